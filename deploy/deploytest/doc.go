// Package deploytest proves that scimtrail's deployment files are what the
// tools that read them accept: the Kubernetes manifests and the Helm
// chart's renderings decode strictly into the Kubernetes API types and
// carry the sidecar's shape (native sidecar, probes, security context,
// state on a PersistentVolumeClaim), the config they carry passes
// "scimtrail config check", values.schema.json refuses bad values, and the
// Dockerfile's own build flags make a static binary with its version
// stamped.
//
// It is a module of its own so that Helm, the Kubernetes API types,
// kustomize and BuildKit's Dockerfile parser stay out of scimtrail's
// go.mod; it holds only tests.
package deploytest

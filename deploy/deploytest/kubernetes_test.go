package deploytest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

var manifestsDir = filepath.Join(repoRoot, "deploy", "kubernetes")

// manifestFiles lists deploy/kubernetes/*.yaml but the kustomization.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(manifestsDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, p := range paths {
		if name := filepath.Base(p); name != "kustomization.yaml" {
			files = append(files, name)
		}
	}
	if len(files) == 0 {
		t.Fatalf("no manifests in %s", manifestsDir)
	}
	return files
}

// manifests decodes every manifest file strictly.
func manifests(t *testing.T) *bundle {
	t.Helper()
	var b bundle
	for _, name := range manifestFiles(t) {
		data, err := os.ReadFile(filepath.Join(manifestsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.add(name, data); err != nil {
			t.Fatal(err)
		}
	}
	return &b
}

func TestManifests_DecodeStrictly(t *testing.T) {
	b := manifests(t)
	kinds := slices.Sorted(slices.Values(b.Kinds))
	want := []string{"ConfigMap", "Deployment", "NetworkPolicy", "PersistentVolumeClaim", "Secret", "Service"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds = %v, want %v", kinds, want)
	}
	for _, n := range names(b) {
		if strings.Contains(n, "/") {
			t.Errorf("%s names a namespace: the manifests are namespace-agnostic", n)
		}
	}
}

// names lists the objects' namespaces and names; a namespace shows as
// "ns/name".
func names(b *bundle) []string {
	var out []string
	add := func(ns, name string) {
		if ns != "" {
			name = ns + "/" + name
		}
		out = append(out, name)
	}
	for _, o := range b.Deployments {
		add(o.Namespace, o.Name)
	}
	for _, o := range b.Services {
		add(o.Namespace, o.Name)
	}
	for _, o := range b.ConfigMaps {
		add(o.Namespace, o.Name)
	}
	for _, o := range b.Secrets {
		add(o.Namespace, o.Name)
	}
	for _, o := range b.Claims {
		add(o.Namespace, o.Name)
	}
	for _, o := range b.NetworkPolicies {
		add(o.Namespace, o.Name)
	}
	return out
}

// TestManifests_SidecarPattern: scimtrail is a native sidecar, probed on
// the admin port, non-root with a read-only root, its state on the claim;
// the Service reaches scimtrail, not the app; the config agrees with the
// pod.
func TestManifests_SidecarPattern(t *testing.T) {
	checkDeployment(t, manifests(t), true)
}

func TestManifests_ConfigPassesConfigCheck(t *testing.T) {
	d := checkDeployment(t, manifests(t), true)
	mustPassConfigCheck(t, "deploy/kubernetes/configmap.yaml", d.ConfigText, passwordEnvVar+"=secret")
}

// TestManifests_KafkaPasswordComesFromEnvironment: without KAFKA_PASSWORD
// the config is refused, so the ${KAFKA_PASSWORD} reference is really what
// the binary reads, and the Secret really is where the password comes from.
func TestManifests_KafkaPasswordComesFromEnvironment(t *testing.T) {
	d := checkDeployment(t, manifests(t), true)
	code, out := configCheck(t, d.ConfigText)
	if code != 2 || !strings.Contains(out, "kafka-sasl-password") || !strings.Contains(out, passwordEnvVar) {
		t.Errorf("config check without %s: exit %d %q, want exit 2 naming kafka-sasl-password and %s", passwordEnvVar, code, out, passwordEnvVar)
	}
}

func TestKustomization_ListsEveryManifest(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(manifestsDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.Kind != types.KustomizationKind || k.APIVersion != types.KustomizationVersion {
		t.Errorf("kustomization.yaml is %s %s, want %s %s", k.APIVersion, k.Kind, types.KustomizationVersion, types.KustomizationKind)
	}
	if k.Namespace != "" {
		t.Errorf("kustomization.yaml sets namespace %q: the manifests are namespace-agnostic", k.Namespace)
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if want := manifestFiles(t); !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources = %v, want every manifest %v", got, want)
	}
}

// TestKustomization_Builds runs kustomize, as "kubectl apply -k" does,
// and decodes what it makes strictly: the same objects as the files.
func TestKustomization_Builds(t *testing.T) {
	abs, err := filepath.Abs(manifestsDir)
	if err != nil {
		t.Fatal(err)
	}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	out, err := resources.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	var built bundle
	if err := built.add("kustomize build", out); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(slices.Values(built.Kinds)), slices.Sorted(slices.Values(manifests(t).Kinds)); !slices.Equal(got, want) {
		t.Errorf("kustomize build kinds = %v, want the files' %v", got, want)
	}
	checkDeployment(t, &built, true)
}

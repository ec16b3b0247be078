package deploytest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// What the kubelet would give the pod: its name and namespace through the
// downward API, and the Secrets' values (placeholders).
const (
	podName      = "scim-scimtrail-5d8c7b9f4-x7k2p"
	podNamespace = "identity"
	otlpHeaders  = "authorization=Bearer%20t0k3n,x-tenant=acme"
)

var secretValues = map[string]string{
	"kafka-credentials/password":             "secret",
	"otlp-credentials/headers":               otlpHeaders,
	"scimtrail-console/console-user":         consoleUser,
	"scimtrail-console/console-token-sha256": consoleTokenSHA256,
}

// containerEnv is the environment the kubelet would start c with:
// literal values with $(VAR) references to earlier variables expanded,
// the downward API's fields, and secrets' values from secrets (keyed
// "name/key"). "scimtrail config check" then runs with exactly it.
func containerEnv(t *testing.T, c *corev1.Container, secrets map[string]string) []string {
	t.Helper()
	fields := map[string]string{"metadata.name": podName, "metadata.namespace": podNamespace}
	vars := map[string]string{}
	var env []string
	for _, e := range c.Env {
		var v string
		switch {
		case e.ValueFrom == nil:
			v = expandKubelet(e.Value, vars)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			var ok bool
			if v, ok = secrets[ref.Name+"/"+ref.Key]; !ok {
				t.Fatalf("env %s: no test value for the Secret %s key %s", e.Name, ref.Name, ref.Key)
			}
		case e.ValueFrom.FieldRef != nil:
			var ok bool
			if v, ok = fields[e.ValueFrom.FieldRef.FieldPath]; !ok {
				t.Fatalf("env %s: unexpected field %s", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.ResourceFieldRef != nil:
			v = "268435456" // limits.memory, in bytes
		default:
			t.Fatalf("env %s: unexpected source %+v", e.Name, e.ValueFrom)
		}
		vars[e.Name] = v
		env = append(env, e.Name+"="+v)
	}
	return env
}

// expandKubelet expands an env value as the kubelet does: $(NAME) of a
// variable defined before it is its value, $$ is $, anything else stays.
func expandKubelet(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteByte('$')
				continue
			}
			ref := s[i : i+3+end]
			if v, ok := vars[s[i+2:i+2+end]]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(ref)
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func TestExpandKubelet(t *testing.T) {
	vars := map[string]string{"A": "x", "B": "y"}
	for in, want := range map[string]string{
		"$(A),$(B)": "x,y",
		"$(C)":      "$(C)",
		"$$(A)":     "$(A)",
		"a$b$":      "a$b$",
		"$(A":       "$(A",
	} {
		if got := expandKubelet(in, vars); got != want {
			t.Errorf("expandKubelet(%q) = %q, want %q", in, got, want)
		}
	}
}

// envValue is the value of name in env ("NAME=value" items).
func envValue(env []string, name string) (string, bool) {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v, true
		}
	}
	return "", false
}

// otlpEgress returns the egress rules of np that allow TCP port, and each
// one's peers described as in describePeer.
func otlpEgress(np *networkingv1.NetworkPolicy, port int32) [][]string {
	var rules [][]string
	for _, r := range np.Spec.Egress {
		for _, p := range r.Ports {
			if p.Port == nil || p.Port.IntValue() != int(port) || (p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP) {
				continue
			}
			var peers []string
			for _, peer := range r.To {
				peers = append(peers, describePeer(peer))
			}
			rules = append(rules, peers)
		}
	}
	return rules
}

// describePeer shows a peer as ipBlock:CIDR, namespace:NAME, pods:K=V or
// namespace:NAME+pods:K=V.
func describePeer(p networkingv1.NetworkPolicyPeer) string {
	var parts []string
	if p.IPBlock != nil {
		parts = append(parts, "ipBlock:"+p.IPBlock.CIDR)
	}
	if p.NamespaceSelector != nil {
		parts = append(parts, "namespace:"+p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
	}
	if p.PodSelector != nil {
		var labels []string
		for k, v := range p.PodSelector.MatchLabels {
			labels = append(labels, k+"="+v)
		}
		slices.Sort(labels)
		parts = append(parts, "pods:"+strings.Join(labels, ","))
	}
	return strings.Join(parts, "+")
}

// TestChart_OTLPFullValues: ci/full-values.yaml turns the OTLP sink on,
// over TLS to a private CA, with credentials and spans; every part reaches
// the pod as the binary expects it.
func TestChart_OTLPFullValues(t *testing.T) {
	b, rel := render(t, "ci/full-values.yaml")
	d := checkDeployment(t, b, true)

	want := map[string]any{
		"otlp-endpoint":    "https://otel-collector.observability.svc:4317",
		"otlp-protocol":    "grpc",
		"otlp-compression": "gzip",
		"otlp-ca-file":     "/etc/scimtrail-otlp-ca/ca.crt",
		"otlp-traces":      true,
	}
	for k, v := range want {
		if d.Config[k] != v {
			t.Errorf("config %q = %v, want %v", k, d.Config[k], v)
		}
	}

	// The CA bundle is the Secret's key, mounted where otlp-ca-file says.
	if secret, key := d.secretFile(t, b, "otlp-ca-file", "/etc/scimtrail-otlp-ca/ca.crt"); secret != "otlp-ca" || key != "ca.crt" {
		t.Errorf("otlp-ca-file is the Secret %q key %q, want otlp-ca ca.crt", secret, key)
	}

	// The headers come from the Secret, never as a literal.
	var headers *corev1.EnvVar
	for i, e := range d.Scimtrail.Env {
		if e.Name == headersEnvVar {
			headers = &d.Scimtrail.Env[i]
		}
	}
	switch {
	case headers == nil:
		t.Fatalf("scimtrail has no env %s", headersEnvVar)
	case headers.Value != "" || headers.ValueFrom == nil || headers.ValueFrom.SecretKeyRef == nil:
		t.Fatalf("env %s = %+v, want a secretKeyRef only", headersEnvVar, headers)
	case headers.ValueFrom.SecretKeyRef.Name != "otlp-credentials" || headers.ValueFrom.SecretKeyRef.Key != "headers":
		t.Errorf("env %s from Secret %q key %q, want otlp-credentials headers", headersEnvVar,
			headers.ValueFrom.SecretKeyRef.Name, headers.ValueFrom.SecretKeyRef.Key)
	}
	if strings.Contains(rel.Manifest, "t0k3n") {
		t.Error("the rendering holds a header value")
	}

	// The pod's environment, as the kubelet sets it, is what the binary
	// accepts, with the resource the values describe.
	env := containerEnv(t, d.Scimtrail, secretValues)
	mustPassConfigCheck(t, "ci/full-values.yaml", d.ConfigText, env...)
	if got, want := envOf(env, "OTEL_RESOURCE_ATTRIBUTES"), "k8s.pod.name="+podName+",k8s.namespace.name="+podNamespace+",deployment.environment.name=production"; got != want {
		t.Errorf("OTEL_RESOURCE_ATTRIBUTES = %q, want %q", got, want)
	}
	if got := envOf(env, "OTEL_SERVICE_NAME"); got != "scim-audit" {
		t.Errorf("OTEL_SERVICE_NAME = %q, want scim-audit", got)
	}

	// The headers the binary reads are the Secret's: a malformed value is
	// refused, naming the variable.
	bad := withValue(secretValues, "otlp-credentials/headers", "not-a-pair")
	code, out := configCheck(t, d.ConfigText, containerEnv(t, d.Scimtrail, bad)...)
	if code != 2 || !strings.Contains(out, headersEnvVar) {
		t.Errorf("config check with malformed headers: exit %d %q, want exit 2 naming %s", code, out, headersEnvVar)
	}

	// The NetworkPolicy lets out to the collector on the endpoint's port,
	// and nowhere else for it.
	np := one(t, "NetworkPolicy", b.NetworkPolicies)
	wantPeers := []string{"ipBlock:203.0.113.128/25", "namespace:observability+pods:app.kubernetes.io/name=opentelemetry-collector"}
	if rules := otlpEgress(np, 4317); len(rules) != 1 || !slices.Equal(rules[0], wantPeers) {
		t.Errorf("NetworkPolicy egress on TCP/4317 = %v, want one rule to %v", rules, wantPeers)
	}
	if rules := otlpEgress(np, 4318); len(rules) != 0 {
		t.Errorf("NetworkPolicy lets out TCP/4318 %v; the endpoint is grpc on 4317", rules)
	}
	if !strings.Contains(rel.Info.Notes, "OTLP logs (grpc) to https://otel-collector.observability.svc:4317") {
		t.Errorf("NOTES do not name the OTLP endpoint:\n%s", rel.Info.Notes)
	}
}

// envOf is the value of name in env, "" when unset.
func envOf(env []string, name string) string {
	v, _ := envValue(env, name)
	return v
}

// withValue copies m with key set to value.
func withValue(m map[string]string, key, value string) map[string]string {
	out := map[string]string{key: value}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// TestChart_OTLPOffByDefault: without an endpoint no OTLP key, variable,
// mount or egress is rendered, and records go to stdout.
func TestChart_OTLPOffByDefault(t *testing.T) {
	b, rel := render(t, "", "networkPolicy: {enabled: true, idpCIDRs: [192.0.2.0/24], otlpNamespace: observability}",
		"sinks: {otlp: {headersSecret: otlp-credentials, tls: {caSecret: otlp-ca}, serviceName: x}}")
	d := checkDeployment(t, b, true)
	for k := range d.Config {
		if strings.HasPrefix(k, "otlp-") {
			t.Errorf("OTLP off, yet the config sets %q", k)
		}
	}
	for _, e := range d.Scimtrail.Env {
		if strings.HasPrefix(e.Name, "OTEL_") || strings.HasPrefix(e.Name, "K8S_") {
			t.Errorf("OTLP off, yet scimtrail has env %s", e.Name)
		}
	}
	for _, v := range d.Pod.Volumes {
		if v.Secret != nil {
			t.Errorf("OTLP off, yet the pod mounts the Secret %s", v.Secret.SecretName)
		}
	}
	np := one(t, "NetworkPolicy", b.NetworkPolicies)
	if rules := append(otlpEgress(np, 4317), otlpEgress(np, 4318)...); len(rules) != 0 {
		t.Errorf("OTLP off, yet the NetworkPolicy lets out to %v", rules)
	}
	if !strings.Contains(rel.Info.Notes, "JSON lines on stdout") {
		t.Errorf("NOTES do not say the records go to stdout:\n%s", rel.Info.Notes)
	}
	mustPassConfigCheck(t, "OTLP off", d.ConfigText)
}

// TestChart_OTLPEgressPort: the NetworkPolicy's port for the collector is
// the one scimtrail connects to: the endpoint's, else OTLP's registered
// port for the protocol (also for https, which is not 443 here), unless
// networkPolicy.otlpPort names the pods' own port.
func TestChart_OTLPEgressPort(t *testing.T) {
	const policy = "networkPolicy: {enabled: true, idpCIDRs: [192.0.2.0/24]}"
	for _, tc := range []struct {
		name   string
		values []string
		port   int32
		peers  []string
	}{
		{"http/protobuf without a port",
			[]string{"sinks: {otlp: {endpoint: 'http://otel-collector.observability'}}", "networkPolicy: {otlpNamespace: observability}"},
			4318, []string{"namespace:observability"}},
		{"grpc over https without a port",
			[]string{"sinks: {otlp: {endpoint: 'https://otlp.example.com', protocol: grpc}}", "networkPolicy: {otlpCIDRs: [203.0.113.0/24]}"},
			4317, []string{"ipBlock:203.0.113.0/24"}},
		{"the endpoint's port",
			[]string{"sinks: {otlp: {endpoint: 'https://otlp.example.com:443/otlp'}}", "networkPolicy: {otlpCIDRs: [203.0.113.0/24]}"},
			443, []string{"ipBlock:203.0.113.0/24"}},
		{"explicit port, collector in the release's namespace",
			[]string{"sinks: {otlp: {endpoint: 'http://otel-collector:4317', protocol: grpc}}", "networkPolicy: {otlpPort: 14317, otlpPodLabels: {app: otel-collector}}"},
			14317, []string{"pods:app=otel-collector"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := render(t, "", append([]string{policy}, tc.values...)...)
			d := checkDeployment(t, b, true)
			np := one(t, "NetworkPolicy", b.NetworkPolicies)
			if rules := otlpEgress(np, tc.port); len(rules) != 1 || !slices.Equal(rules[0], tc.peers) {
				t.Errorf("egress on TCP/%d = %v, want one rule to %v", tc.port, rules, tc.peers)
			}
			for _, other := range []int32{4317, 4318} {
				if other != tc.port && len(otlpEgress(np, other)) > 0 {
					t.Errorf("egress also on TCP/%d", other)
				}
			}
			mustPassConfigCheck(t, tc.name, d.ConfigText, containerEnv(t, d.Scimtrail, secretValues)...)
		})
	}
}

// TestChart_OTLPResource: the pod's name and namespace are on the OTLP
// resource whenever scimtrail makes OTLP payloads, Kafka's otlp_proto
// included; a $ in a value reaches the binary as it was written, not as a
// kubelet reference.
func TestChart_OTLPResource(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"OTLP sink", "sinks: {otlp: {endpoint: 'http://otel-collector:4318', resourceAttributes: {team: 'a$(K8S_POD_NAME)'}}}",
			"k8s.pod.name=" + podName + ",k8s.namespace.name=" + podNamespace + ",team=a$(K8S_POD_NAME)"},
		{"Kafka otlp_proto", "sinks: {kafka: {brokers: ['kafka:9093'], encoding: otlp_proto}}",
			"k8s.pod.name=" + podName + ",k8s.namespace.name=" + podNamespace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := render(t, "", tc.values)
			d := checkDeployment(t, b, true)
			env := containerEnv(t, d.Scimtrail, secretValues)
			if got := envOf(env, "OTEL_RESOURCE_ATTRIBUTES"); got != tc.want {
				t.Errorf("OTEL_RESOURCE_ATTRIBUTES = %q, want %q", got, tc.want)
			}
			mustPassConfigCheck(t, tc.name, d.ConfigText, env...)
		})
	}
}

// uncommentBlock returns text with a commented-out YAML block uncommented:
// the first comment line whose text begins with start, and the comment
// lines after it, at the same indentation, whose text is indented further
// ("#   key: ..."), or, when start is a list item, is another list item.
func uncommentBlock(t *testing.T, text, start string) string {
	t.Helper()
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
		if !strings.HasPrefix(l, indent+"# "+start) {
			continue
		}
		lines[i] = indent + strings.TrimPrefix(l, indent+"# ")
		for j := i + 1; j < len(lines); j++ {
			rest, ok := strings.CutPrefix(lines[j], indent+"# ")
			if !ok || !(strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "- ") && strings.HasPrefix(start, "- ")) {
				break
			}
			lines[j] = indent + rest
		}
		return strings.Join(lines, "\n")
	}
	t.Fatalf("no commented-out block starting %q", start)
	return ""
}

// TestManifests_OTLPExamples: the commented-out OTLP examples of the plain
// manifests, uncommented, are a valid deployment: the ConfigMap's keys
// (but the CA file, which needs a Secret volume of the site's), the
// Deployment's headers from a Secret and the pod's resource, and the
// NetworkPolicy's egress to the collector on the endpoint's port.
// editedManifests reads the plain manifests with edits applied (by file
// name; each must change its file), labelled for error messages.
func editedManifests(t *testing.T, label string, edits map[string]func(string) string) *bundle {
	t.Helper()
	var b bundle
	for _, name := range manifestFiles(t) {
		data, err := os.ReadFile(filepath.Join(manifestsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if edit, ok := edits[name]; ok {
			if text = edit(text); text == string(data) {
				t.Fatalf("%s: nothing uncommented", name)
			}
		}
		if err := b.add(name+" ("+label+")", []byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	return &b
}

func TestManifests_OTLPExamples(t *testing.T) {
	edits := map[string]func(string) string{
		"configmap.yaml": func(s string) string {
			for _, key := range []string{"otlp-endpoint:", "otlp-protocol:", "otlp-compression:", "otlp-traces:"} {
				s = uncommentBlock(t, s, key)
			}
			return s
		},
		"deployment.yaml":    func(s string) string { return uncommentBlock(t, s, "- name: "+headersEnvVar) },
		"networkpolicy.yaml": func(s string) string { return uncommentBlock(t, s, "- to:") },
	}
	b := editedManifests(t, "OTLP uncommented", edits)
	d := checkDeployment(t, b, true)
	if d.Config["otlp-endpoint"] == nil || d.Config["otlp-traces"] != true {
		t.Fatalf("the uncommented config has no OTLP sink with spans:\n%s", d.ConfigText)
	}
	env := containerEnv(t, d.Scimtrail, secretValues)
	for _, name := range []string{headersEnvVar, "OTEL_RESOURCE_ATTRIBUTES"} {
		if _, ok := envValue(env, name); !ok {
			t.Errorf("the uncommented Deployment has no env %s", name)
		}
	}
	mustPassConfigCheck(t, "deploy/kubernetes, OTLP uncommented", d.ConfigText, env...)

	port := int32(4318)
	if d.Config["otlp-protocol"] == "grpc" {
		port = 4317
	}
	np := one(t, "NetworkPolicy", b.NetworkPolicies)
	if rules := otlpEgress(np, port); len(rules) != 1 || len(rules[0]) == 0 {
		t.Errorf("the uncommented NetworkPolicy's egress on TCP/%d = %v, want one rule to the collector (endpoint %v)", port, rules, d.Config["otlp-endpoint"])
	}
}

// TestManifests_OTLPExampleIsCommented: the plain manifests ship with
// Kafka only; the OTLP example is a comment.
func TestManifests_OTLPExampleIsCommented(t *testing.T) {
	d := checkDeployment(t, manifests(t), true)
	for k := range d.Config {
		if strings.HasPrefix(k, "otlp-") {
			t.Errorf("deploy/kubernetes/configmap.yaml sets %q", k)
		}
	}
	if !strings.Contains(d.ConfigText, "# otlp-endpoint:") {
		t.Error("deploy/kubernetes/configmap.yaml has no commented-out otlp-endpoint example")
	}
}

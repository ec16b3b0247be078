package deploytest

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/release"
	"sigs.k8s.io/yaml"
)

var chartDir = filepath.Join(repoRoot, "deploy", "helm", "scimtrail")

// install renders the chart as "helm install --dry-run" does without a
// cluster, with the values of valuesFile (none when empty) and then the
// YAML of overrides, merged as -f files are. The values schema is
// checked on the way, as at any install.
func install(t *testing.T, valuesFile string, overrides ...string) (*release.Release, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals := map[string]any{}
	if valuesFile != "" {
		v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, valuesFile))
		if err != nil {
			t.Fatal(err)
		}
		vals = v
	}
	for _, o := range overrides {
		var v map[string]any
		if err := yaml.Unmarshal([]byte(o), &v); err != nil {
			t.Fatalf("override %q: %v", o, err)
		}
		vals = chartutil.MergeTables(v, vals)
	}
	in := action.NewInstall(&action.Configuration{Log: t.Logf})
	in.DryRun = true
	in.ClientOnly = true
	in.ReleaseName = "scim"
	in.Namespace = "identity"
	// The oldest Kubernetes with native sidecars on by default.
	in.KubeVersion = &chartutil.KubeVersion{Version: "v1.29.0", Major: "1", Minor: "29"}
	return in.Run(chrt, vals)
}

// render installs and decodes the manifests strictly.
func render(t *testing.T, valuesFile string, overrides ...string) (*bundle, *release.Release) {
	t.Helper()
	rel, err := install(t, valuesFile, overrides...)
	if err != nil {
		t.Fatalf("helm install --dry-run: %v", err)
	}
	var b bundle
	if err := b.add("rendered chart", []byte(rel.Manifest)); err != nil {
		t.Fatal(err)
	}
	return &b, rel
}

func TestChart_Metadata(t *testing.T) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	m := chrt.Metadata
	if m.APIVersion != "v2" || m.Name != "scimtrail" || m.Version != "0.1.0" || m.AppVersion != "0.1.0" {
		t.Errorf("Chart.yaml: apiVersion %s name %s version %s appVersion %s, want v2 scimtrail 0.1.0 0.1.0",
			m.APIVersion, m.Name, m.Version, m.AppVersion)
	}
	if err := m.Validate(); err != nil {
		t.Error(err)
	}
}

// TestChart_DefaultValues: the chart as installed with no values is the
// sidecar pattern of the plain manifests. The NetworkPolicy is off by
// default (its address ranges are the site's) and the chart makes no
// Secret (it takes an existing one).
func TestChart_DefaultValues(t *testing.T) {
	b, rel := render(t, "")
	d := checkDeployment(t, b, true)
	sameShape(t, "default values", checkDeployment(t, manifests(t), true), d)
	if want := []string{"ConfigMap", "Deployment", "PersistentVolumeClaim", "Service"}; !slices.Equal(slices.Sorted(slices.Values(b.Kinds)), want) {
		t.Errorf("kinds = %v, want %v", b.Kinds, want)
	}
	mustPassConfigCheck(t, "default values", d.ConfigText)
	if strings.Contains(rel.Info.Notes, "WARNING") {
		t.Errorf("NOTES warn with a persistent spool:\n%s", rel.Info.Notes)
	}
}

// TestChart_FullValues: ci/full-values.yaml turns everything on; it makes
// every kind of the plain manifests but the Secret, in their shape.
func TestChart_FullValues(t *testing.T) {
	b, _ := render(t, "ci/full-values.yaml")
	plain := manifests(t)
	d := checkDeployment(t, b, true)
	sameShape(t, "ci/full-values.yaml", checkDeployment(t, plain, true), d)

	var wantKinds []string
	for _, k := range plain.Kinds {
		if k != "Secret" {
			wantKinds = append(wantKinds, k)
		}
	}
	if got, want := slices.Sorted(slices.Values(b.Kinds)), slices.Sorted(slices.Values(wantKinds)); !slices.Equal(got, want) {
		t.Errorf("kinds = %v, want %v", got, want)
	}
	if len(b.Secrets) > 0 {
		t.Error("the chart makes a Secret: it should take an existing one")
	}

	// Everything the values turn on reaches the config, which the binary
	// accepts.
	for _, key := range []string{"idp", "log-file", "kafka-brokers", "kafka-encoding", "kafka-tls", "kafka-tls-ca", "kafka-sasl-mechanism", "kafka-sasl-password",
		"otlp-endpoint", "otlp-protocol", "otlp-compression", "otlp-ca-file", "otlp-traces", "spool-sync", "spool-full-policy",
		"registry", "registry-retention", "console-user", "console-token-sha256"} {
		if _, ok := d.Config[key]; !ok {
			t.Errorf("config lacks %q:\n%s", key, d.ConfigText)
		}
	}
	mustPassConfigCheck(t, "ci/full-values.yaml", d.ConfigText, containerEnv(t, d.Scimtrail, secretValues)...)

	// The NetworkPolicy lets in what the plain one does and lets out at
	// least as much.
	got := policyPorts(one(t, "NetworkPolicy", b.NetworkPolicies))
	want := policyPorts(one(t, "NetworkPolicy", plain.NetworkPolicies))
	if !slices.Equal(got.Ingress, want.Ingress) {
		t.Errorf("NetworkPolicy ingress ports = %v, want the manifests' %v", got.Ingress, want.Ingress)
	}
	for _, p := range want.Egress {
		if !slices.Contains(got.Egress, p) {
			t.Errorf("NetworkPolicy egress lacks %s (has %v)", p, got.Egress)
		}
	}
}

// TestChart_NoPersistenceWarnsLoudly: an emptyDir loses the spool on every
// restart, and the NOTES say so.
func TestChart_NoPersistenceWarnsLoudly(t *testing.T) {
	b, rel := render(t, "", "spool: {persistence: {enabled: false}}")
	d := checkDeployment(t, b, true)
	if len(b.Claims) != 0 {
		t.Error("persistence off, yet a PersistentVolumeClaim is rendered")
	}
	if !strings.Contains(rel.Info.Notes, "WARNING") || !strings.Contains(rel.Info.Notes, "LOSES the records") {
		t.Errorf("NOTES do not warn of the emptyDir:\n%s", rel.Info.Notes)
	}
	mustPassConfigCheck(t, "persistence off", d.ConfigText)
}

// TestChart_WithoutAppScimtrailRunsAlone: with app.enabled false there is
// no app to be a sidecar of; scimtrail is the pod's only container and
// forwards to an upstream elsewhere.
func TestChart_WithoutAppScimtrailRunsAlone(t *testing.T) {
	b, _ := render(t, "", "app: {enabled: false}", "upstream: https://scim.identity.svc:8443/scim/v2")
	d := checkDeployment(t, b, false)
	if len(d.Pod.InitContainers) != 0 || d.Scimtrail.RestartPolicy != nil {
		t.Errorf("scimtrail alone should be a plain container: init %d, restartPolicy %v", len(d.Pod.InitContainers), d.Scimtrail.RestartPolicy)
	}
	mustPassConfigCheck(t, "app disabled", d.ConfigText)
}

// TestChart_SchemaRejectsBadValues: values.schema.json refuses, at install
// time, what would otherwise fail only when the pod starts, or be ignored.
func TestChart_SchemaRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"encoding xml", "sinks: {kafka: {encoding: xml}}", "/sinks/kafka/encoding"},
		{"idp without a name", "idps: ['token-sha256:1df4b07d05b9b3b1115b4b6b22af319a2f99564a2fa2573a34896063c7513c10']", "/idps/0"},
		{"idp hash too short", "idps: ['okta=token-sha256:1df4b07d']", "/idps/0"},
		{"idp hash upper case", "idps: ['okta=token-sha256:1DF4B07D05B9B3B1115B4B6B22AF319A2F99564A2FA2573A34896063C7513C10']", "/idps/0"},
		{"idp unknown matcher", "idps: ['okta=header:X-IdP']", "/idps/0"},
		{"idp path not absolute", "idps: ['entra=path-prefix:scim/entra']", "/idps/0"},
		{"missing upstream", "upstream: null", "upstream"},
		{"upstream not a URL", "upstream: scim-app:9000", "/upstream"},
		{"unknown top-level key", "replicaCount: 2", "replicaCount"},
		{"unknown kafka key", "sinks: {kafka: {password: hunter2}}", "password"},
		{"spool sync", "spool: {sync: never}", "/spool/sync"},
		{"spool full policy", "spool: {fullPolicy: drop-newest}", "/spool/fullPolicy"},
		{"shutdown timeout", "shutdownTimeout: 20", "/shutdownTimeout"},
		{"log file outside the state volume", "sinks: {logFile: /var/log/records.jsonl}", "/sinks/logFile"},
		{"otlp protocol http/json", "sinks: {otlp: {protocol: http/json}}", "/sinks/otlp/protocol"},
		{"otlp compression zstd", "sinks: {otlp: {compression: zstd}}", "/sinks/otlp/compression"},
		{"otlp endpoint without a scheme", "sinks: {otlp: {endpoint: 'otel-collector:4317'}}", "/sinks/otlp/endpoint"},
		{"otlp endpoint with credentials", "sinks: {otlp: {endpoint: 'https://user:key@otlp.example.com'}}", "/sinks/otlp/endpoint"},
		{"otlp endpoint with a query", "sinks: {otlp: {endpoint: 'https://otlp.example.com/?key=x'}}", "/sinks/otlp/endpoint"},
		{"otlp header values in the values", "sinks: {otlp: {headers: {authorization: Bearer x}}}", "headers"},
		{"otlp resource attribute with a comma", "sinks: {otlp: {resourceAttributes: {team: 'a,b'}}}", "/sinks/otlp/resourceAttributes"},
		{"otlp CIDR", "networkPolicy: {otlpCIDRs: [otel-collector]}", "/networkPolicy/otlpCIDRs/0"},
		{"otlp port", "networkPolicy: {otlpPort: 70000}", "/networkPolicy/otlpPort"},
		{"registry enabled not a boolean", "registry: {enabled: 'yes'}", "/registry/enabled"},
		{"registry retention without a unit", "registry: {retention: '90'}", "/registry/retention"},
		{"registry retention in weeks", "registry: {retention: 12w}", "/registry/retention"},
		{"registry retention zero", "registry: {retention: 0d}", "/registry/retention"},
		{"registry retention negative", "registry: {retention: -90d}", "/registry/retention"},
		{"registry retention a number", "registry: {retention: 90}", "/registry/retention"},
		{"unknown registry key", "registry: {path: /data/registry.db}", "path"},
		{"console credentials in the values", "registry: {console: {users: ['alice:" + consoleHash + "']}}", "users"},
		{"console credential as the Secret's name", "registry: {console: {existingSecret: 'alice:" + consoleHash + "'}}", "/registry/console/existingSecret"},
		{"console key not the Secret's", "registry: {console: {keys: [password]}}", "/registry/console/keys/0"},
		{"console keys empty", "registry: {console: {keys: []}}", "/registry/console/keys"},
		{"console keys twice", "registry: {console: {keys: [console-user, console-user]}}", "/registry/console/keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := install(t, "", tc.values)
			if err == nil {
				t.Fatalf("values %q installed", tc.values)
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("values %q: want a schema error at %s, got: %v", tc.values, tc.want, err)
			}
		})
	}
}

// TestChart_RefusesIncompleteSettings: settings that only make sense
// together fail at install time with a message naming what is missing.
func TestChart_RefusesIncompleteSettings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   string
	}{
		{"SASL without a Secret", []string{"sinks: {kafka: {brokers: ['kafka:9093'], sasl: {mechanism: PLAIN, username: u}}}"}, "sinks.kafka.sasl.existingSecret"},
		{"NetworkPolicy without IdP ranges", []string{"networkPolicy: {enabled: true}"}, "networkPolicy.idpCIDRs"},
		{"upstream not the app's port", []string{"app: {port: 9001}"}, "app.port"},
		{"NetworkPolicy without Kafka ranges", []string{"networkPolicy: {enabled: true, idpCIDRs: [192.0.2.0/24]}", "sinks: {kafka: {brokers: ['kafka:9093']}}"}, "networkPolicy.kafkaCIDRs"},
		{"NetworkPolicy without an OTLP target", []string{"networkPolicy: {enabled: true, idpCIDRs: [192.0.2.0/24]}", "sinks: {otlp: {endpoint: 'http://otel-collector.observability:4318'}}"}, "networkPolicy.otlpCIDRs"},
		{"OTLP spans without an endpoint", []string{"sinks: {otlp: {traces: true}}"}, "sinks.otlp.endpoint"},
		{"console without the registry", []string{"registry: {console: {existingSecret: scimtrail-console}}"}, "registry.enabled"},
		{"OTLP CA with a plain-text endpoint", []string{"sinks: {otlp: {endpoint: 'http://otel-collector.observability:4318', tls: {caSecret: otlp-ca}}}"}, "sinks.otlp.tls.caSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := install(t, "", tc.values...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error naming %s, got %v", tc.want, err)
			}
		})
	}
}

// TestChart_Lint runs what "helm lint --strict" runs, with the default
// values and with ci/full-values.yaml: no warning, no error.
func TestChart_Lint(t *testing.T) {
	for _, file := range []string{"", "ci/full-values.yaml"} {
		vals := map[string]any{}
		if file != "" {
			v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, file))
			if err != nil {
				t.Fatal(err)
			}
			vals = v
		}
		l := lint.AllWithKubeVersion(chartDir, vals, "identity", &chartutil.KubeVersion{Version: "v1.29.0", Major: "1", Minor: "29"})
		for _, m := range l.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("helm lint (values %q): %s", file, m)
			} else {
				t.Logf("helm lint (values %q): %s", file, m)
			}
		}
	}
}

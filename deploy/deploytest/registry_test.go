package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The console's credentials as the scimtrail-console Secret would hold
// them (placeholders): a "scimtrail console-user alice" line and the
// SHA-256 of the bearer token "console-token".
const (
	consoleHash        = "$2a$10$fM2Nahw2yqA4KsdJZVlY4OHFiB2ULujscFXUtDiP.sPSb596z/wMq"
	consoleUser        = "alice:" + consoleHash
	consoleTokenSHA256 = "bc7c55a37ffb99fb9cd1c82be1e6198a0b5b26998bd0e53d88ad34d7b80d1c02"
	consoleSecret      = "scimtrail-console"
	registryPath       = stateDir + "/registry.db"
)

// consoleEnvVars is the variable the pod gets each key of the console's
// Secret through, and the config names.
var consoleEnvVars = map[string]string{
	"console-user":         "SCIMTRAIL_CONSOLE_USER",
	"console-token-sha256": "SCIMTRAIL_CONSOLE_TOKEN_SHA256",
}

// consoleKeys lists the console-* keys the config sets, sorted.
func consoleKeys(config map[string]any) []string {
	var keys []string
	for k := range config {
		if strings.HasPrefix(k, "console-") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// consoleEnv lists scimtrail's env variables named SCIMTRAIL_CONSOLE_*.
func consoleEnv(c *corev1.Container) []corev1.EnvVar {
	var env []corev1.EnvVar
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "SCIMTRAIL_CONSOLE_") {
			env = append(env, e)
		}
	}
	return env
}

// TestChart_RegistryOffByDefault: with the default values there is no
// registry, no console and no console credential in the pod, and the
// NOTES say nothing of them.
func TestChart_RegistryOffByDefault(t *testing.T) {
	b, rel := render(t, "")
	d := checkDeployment(t, b, true)
	for _, k := range []string{"registry", "registry-retention", "console-user", "console-token-sha256"} {
		if _, ok := d.Config[k]; ok {
			t.Errorf("registry off, yet the config sets %q", k)
		}
	}
	if env := consoleEnv(d.Scimtrail); len(env) > 0 {
		t.Errorf("registry off, yet scimtrail has env %v", env)
	}
	if strings.Contains(rel.Info.Notes, "/ui/") || strings.Contains(rel.Info.Notes, "registry.db") || strings.Contains(rel.Info.Notes, "console") {
		t.Errorf("registry off, yet the NOTES speak of it:\n%s", rel.Info.Notes)
	}
}

// TestChart_RegistryWithoutConsole: registry.enabled alone stores the
// records on the state volume, with the retention of the values; no
// console credential is wired, so the config names none (an unset
// ${VAR} would stop scimtrail), and the NOTES say the console is off.
func TestChart_RegistryWithoutConsole(t *testing.T) {
	b, rel := render(t, "", "registry: {enabled: true}")
	d := checkDeployment(t, b, true)
	if got := d.Config["registry"]; got != registryPath {
		t.Errorf(`config "registry" = %v, want %s on the state volume`, got, registryPath)
	}
	if got := d.Config["registry-retention"]; got != "90d" {
		t.Errorf(`config "registry-retention" = %v, want the default 90d`, got)
	}
	if keys := consoleKeys(d.Config); len(keys) > 0 {
		t.Errorf("no console Secret, yet the config sets %v:\n%s", keys, d.ConfigText)
	}
	if env := consoleEnv(d.Scimtrail); len(env) > 0 {
		t.Errorf("no console Secret, yet scimtrail has env %v", env)
	}
	if !strings.Contains(rel.Info.Notes, "console is off") || !strings.Contains(rel.Info.Notes, "registry.console.existingSecret") {
		t.Errorf("NOTES do not say the console is off for want of a Secret:\n%s", rel.Info.Notes)
	}
	mustPassConfigCheck(t, "registry without console", d.ConfigText)
}

// TestChart_RegistryConsole: with registry.console.existingSecret, each
// key of registry.console.keys reaches the pod as a variable from the
// Secret, never a literal, and the config names exactly those variables;
// scimtrail config check then accepts the pod's environment, refuses it
// without the variable (so the reference is really what the binary reads)
// and refuses a malformed credential naming its key (so the Secret's value
// is really what the console checks).
func TestChart_RegistryConsole(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []string
		bad  string // a malformed value for the first key
	}{
		{"users", []string{"console-user"}, "alice:hunter2"},
		{"tokens", []string{"console-token-sha256"}, strings.ToUpper(consoleTokenSHA256)},
		{"users and tokens", []string{"console-user", "console-token-sha256"}, "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, rel := render(t, "", "registry: {enabled: true, retention: 30d, console: {existingSecret: "+consoleSecret+", keys: ["+strings.Join(tc.keys, ", ")+"]}}")
			d := checkDeployment(t, b, true)
			if got := d.Config["registry"]; got != registryPath {
				t.Errorf(`config "registry" = %v, want %s`, got, registryPath)
			}
			if got := d.Config["registry-retention"]; got != "30d" {
				t.Errorf(`config "registry-retention" = %v, want 30d`, got)
			}
			if got, want := consoleKeys(d.Config), slices.Sorted(slices.Values(tc.keys)); !slices.Equal(got, want) {
				t.Errorf("config console keys = %v, want %v:\n%s", got, want, d.ConfigText)
			}
			var wantEnv []string
			for _, key := range tc.keys {
				name := consoleEnvVars[key]
				wantEnv = append(wantEnv, name)
				if got, want := d.Config[key], []any{"${" + name + "}"}; !slices.Equal(asList(got), want) {
					t.Errorf("config %q = %v, want %v", key, got, want)
				}
			}
			var gotEnv []string
			for _, e := range consoleEnv(d.Scimtrail) {
				gotEnv = append(gotEnv, e.Name)
				switch ref := e.ValueFrom; {
				case e.Value != "" || ref == nil || ref.SecretKeyRef == nil:
					t.Errorf("env %s = %+v, want a secretKeyRef only: it carries a credential", e.Name, e)
				case ref.SecretKeyRef.Name != consoleSecret || consoleEnvVars[ref.SecretKeyRef.Key] != e.Name:
					t.Errorf("env %s from Secret %q key %q, want %s's key for it", e.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key, consoleSecret)
				case ref.SecretKeyRef.Optional != nil && *ref.SecretKeyRef.Optional:
					t.Errorf("env %s is optional: a Secret without the key would start scimtrail, then fail on the unset variable", e.Name)
				}
			}
			if slices.Sort(gotEnv); !slices.Equal(gotEnv, slices.Sorted(slices.Values(wantEnv))) {
				t.Errorf("scimtrail console env = %v, want %v", gotEnv, wantEnv)
			}
			if strings.Contains(rel.Manifest, consoleHash) || strings.Contains(rel.Manifest, consoleTokenSHA256) {
				t.Error("the rendering holds a console credential")
			}

			env := containerEnv(t, d.Scimtrail, secretValues)
			mustPassConfigCheck(t, tc.name, d.ConfigText, env...)

			first := consoleEnvVars[tc.keys[0]]
			var without []string
			for _, kv := range env {
				if !strings.HasPrefix(kv, first+"=") {
					without = append(without, kv)
				}
			}
			if code, out := configCheck(t, d.ConfigText, without...); code != 2 || !strings.Contains(out, first) {
				t.Errorf("config check without %s: exit %d %q, want exit 2 naming it", first, code, out)
			}
			bad := withValue(secretValues, consoleSecret+"/"+tc.keys[0], tc.bad)
			if code, out := configCheck(t, d.ConfigText, containerEnv(t, d.Scimtrail, bad)...); code != 2 || !strings.Contains(out, tc.keys[0]) {
				t.Errorf("config check with %s = %q: exit %d %q, want exit 2 naming %s", first, tc.bad, code, out, tc.keys[0])
			}

			for _, want := range []string{"port-forward deploy/scim-scimtrail 9464", "http://127.0.0.1:9464/ui/", "without TLS", consoleSecret} {
				if !strings.Contains(rel.Info.Notes, want) {
					t.Errorf("NOTES lack %q:\n%s", want, rel.Info.Notes)
				}
			}
		})
	}
}

// asList is v as a YAML list, nil when it is not one.
func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// TestChart_RegistryConsoleUserFromCommand: a console-user line exactly as
// "scimtrail console-user NAME < password-file" prints it, trailing
// newline included (as kubectl create secret --from-file stores it), is
// what the console accepts.
func TestChart_RegistryConsoleUserFromCommand(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command(scimtrailBinary(t), "console-user", "alice")
	cmd.Stdin = in
	line, err := cmd.Output()
	if err != nil {
		t.Fatalf("scimtrail console-user: %v", err)
	}
	b, _ := render(t, "", "registry: {enabled: true, console: {existingSecret: "+consoleSecret+"}}")
	d := checkDeployment(t, b, true)
	secrets := withValue(secretValues, consoleSecret+"/console-user", string(line))
	mustPassConfigCheck(t, "console-user from the command", d.ConfigText, containerEnv(t, d.Scimtrail, secrets)...)
}

// TestChart_RegistryRetentionSchemaAgreesWithBinary: the retentions
// values.schema.json takes at its edges are ones scimtrail takes too, so a
// value the schema lets through never stops the pod.
func TestChart_RegistryRetentionSchemaAgreesWithBinary(t *testing.T) {
	for _, retention := range []string{"1s", "1m", "1h", "1d", "90d", "9999d", "9999h"} {
		t.Run(retention, func(t *testing.T) {
			b, _ := render(t, "", "registry: {enabled: true, retention: "+retention+"}")
			d := checkDeployment(t, b, true)
			if got := d.Config["registry-retention"]; got != retention {
				t.Errorf(`config "registry-retention" = %v, want %s`, got, retention)
			}
			mustPassConfigCheck(t, "retention "+retention, d.ConfigText)
		})
	}
}

// TestChart_RegistryWithoutPersistenceWarns: on an emptyDir the registry
// is lost with the pod, and the NOTES' warning says so.
func TestChart_RegistryWithoutPersistenceWarns(t *testing.T) {
	_, rel := render(t, "", "registry: {enabled: true}", "spool: {persistence: {enabled: false}}")
	if !strings.Contains(rel.Info.Notes, "WARNING") || !strings.Contains(rel.Info.Notes, "and the registry") {
		t.Errorf("NOTES do not warn that the registry is lost on an emptyDir:\n%s", rel.Info.Notes)
	}
}

// TestManifests_RegistryExample: the plain manifests ship with the
// registry off, as a commented-out example; uncommented (the config keys
// and the Deployment's console env), it is a valid deployment: the
// registry on the state volume, each console credential from the Secret,
// and a config scimtrail accepts.
func TestManifests_RegistryExample(t *testing.T) {
	plain := checkDeployment(t, manifests(t), true)
	for k := range plain.Config {
		if strings.HasPrefix(k, "registry") || strings.HasPrefix(k, "console-") {
			t.Errorf("deploy/kubernetes/configmap.yaml sets %q: the registry is an option", k)
		}
	}
	if !strings.Contains(plain.ConfigText, "# registry: "+registryPath) {
		t.Errorf("deploy/kubernetes/configmap.yaml has no commented-out registry example at %s", registryPath)
	}

	edits := map[string]func(string) string{
		"configmap.yaml": func(s string) string {
			for _, key := range []string{"registry:", "registry-retention:", "console-user:", "console-token-sha256:"} {
				s = uncommentBlock(t, s, key)
			}
			return s
		},
		// The two entries are one block: both come out.
		"deployment.yaml": func(s string) string { return uncommentBlock(t, s, "- name: "+consoleEnvVars["console-user"]) },
	}
	b := editedManifests(t, "registry uncommented", edits)
	d := checkDeployment(t, b, true)
	if got := d.Config["registry"]; got != registryPath {
		t.Errorf(`uncommented config "registry" = %v, want %s`, got, registryPath)
	}
	if got, want := consoleKeys(d.Config), []string{"console-token-sha256", "console-user"}; !slices.Equal(got, want) {
		t.Errorf("uncommented config console keys = %v, want %v", got, want)
	}
	for key, name := range consoleEnvVars {
		var ref *corev1.SecretKeySelector
		for _, e := range d.Scimtrail.Env {
			if e.Name == name && e.ValueFrom != nil {
				ref = e.ValueFrom.SecretKeyRef
			}
		}
		if ref == nil || ref.Name != consoleSecret || ref.Key != key {
			t.Errorf("the uncommented Deployment's env %s = %+v, want the Secret %s key %s", name, ref, consoleSecret, key)
		}
	}
	mustPassConfigCheck(t, "deploy/kubernetes, registry uncommented", d.ConfigText, containerEnv(t, d.Scimtrail, secretValues)...)
}

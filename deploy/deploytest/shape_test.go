package deploytest

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// What the image and the binary fix, and the deployment files must match.
const (
	sidecarName    = "scimtrail"
	imageRepo      = "ghcr.io/scimtrail/scimtrail"
	nonrootID      = 65532
	configDir      = "/etc/scimtrail"
	configKey      = "scimtrail.yaml"
	stateDir       = "/var/lib/scimtrail"
	proxyPortName  = "scim"
	adminPortName  = "admin"
	proxyPort      = 8080
	adminPort      = 9464
	passwordEnvVar = "KAFKA_PASSWORD"
	headersEnvVar  = "OTEL_EXPORTER_OTLP_HEADERS"
)

// deployment is the pieces of a bundle that make the sidecar pattern,
// found and checked by checkDeployment.
type deployment struct {
	Deployment *appsv1.Deployment
	Pod        *corev1.PodSpec
	Scimtrail  *corev1.Container
	Sidecar    bool // Scimtrail is a native sidecar, with an app beside it
	Service    *corev1.Service
	Config     map[string]any // the ConfigMap's scimtrail.yaml
	ConfigText string
}

// checkDeployment asserts what every rendering of scimtrail on Kubernetes
// must hold, plain manifests and chart alike, and returns its pieces.
// wantSidecar says whether scimtrail runs as a native sidecar next to an
// app (the sidecar pattern) or alone.
func checkDeployment(t *testing.T, b *bundle, wantSidecar bool) *deployment {
	t.Helper()
	d := &deployment{Deployment: one(t, "Deployment", b.Deployments), Service: one(t, "Service", b.Services)}
	d.Pod = &d.Deployment.Spec.Template.Spec

	// One pod, one spool.
	if r := d.Deployment.Spec.Replicas; r == nil || *r != 1 {
		t.Errorf("Deployment replicas = %v, want 1: the spool is one pod's", r)
	}
	if s := d.Deployment.Spec.Strategy.Type; s != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("Deployment strategy = %q, want Recreate: a rolling update would start a second pod on the same spool", s)
	}

	d.findScimtrail(t, wantSidecar)
	c := d.Scimtrail
	if !strings.HasPrefix(c.Image, imageRepo+":") {
		t.Errorf("scimtrail image = %q, want %s:TAG", c.Image, imageRepo)
	}
	if want := []string{"proxy", "--config", configDir + "/" + configKey}; !slices.Equal(c.Args, want) {
		t.Errorf("scimtrail args = %q, want %q", c.Args, want)
	}
	if p := portNamed(c, proxyPortName); p == nil || p.ContainerPort != proxyPort {
		t.Errorf("scimtrail has no port %q = %d", proxyPortName, proxyPort)
	}
	if p := portNamed(c, adminPortName); p == nil || p.ContainerPort != adminPort {
		t.Errorf("scimtrail has no port %q = %d", adminPortName, adminPort)
	}

	checkProbe(t, "livenessProbe", c, c.LivenessProbe, "/healthz")
	checkProbe(t, "readinessProbe", c, c.ReadinessProbe, "/readyz")
	if c.StartupProbe != nil {
		checkProbe(t, "startupProbe", c, c.StartupProbe, "/healthz")
	}
	checkSecurity(t, d.Pod, c)
	d.checkVolumes(t, b)
	d.checkService(t)
	d.checkConfig(t, b)
	for _, np := range b.NetworkPolicies {
		d.checkNetworkPolicy(t, np)
	}
	return d
}

// findScimtrail finds the scimtrail container: an init container with
// restartPolicy Always (a native sidecar, started before the app and
// stopped after it) when there is an app, else the only container.
func (d *deployment) findScimtrail(t *testing.T, wantSidecar bool) {
	t.Helper()
	for i := range d.Pod.InitContainers {
		if c := &d.Pod.InitContainers[i]; c.Name == sidecarName {
			d.Scimtrail, d.Sidecar = c, true
		}
	}
	for i := range d.Pod.Containers {
		if c := &d.Pod.Containers[i]; c.Name == sidecarName {
			if d.Scimtrail != nil {
				t.Fatalf("two containers named %q", sidecarName)
			}
			d.Scimtrail = c
		}
	}
	if d.Scimtrail == nil {
		t.Fatalf("no container named %q", sidecarName)
	}
	if d.Sidecar != wantSidecar {
		t.Fatalf("scimtrail in initContainers = %v, want %v", d.Sidecar, wantSidecar)
	}
	if !d.Sidecar {
		if len(d.Pod.Containers) != 1 {
			t.Errorf("scimtrail alone, yet the pod has %d containers", len(d.Pod.Containers))
		}
		return
	}
	if rp := d.Scimtrail.RestartPolicy; rp == nil || *rp != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("scimtrail init container restartPolicy = %v, want Always (a native sidecar); without it the pod waits for it to exit", rp)
	}
	if len(d.Pod.Containers) == 0 {
		t.Fatal("a native sidecar without an app container")
	}
	for _, app := range d.Pod.Containers {
		// The app listens on the loopback address: a port declared on it
		// would invite a Service to bypass scimtrail.
		if len(app.Ports) > 0 {
			t.Errorf("app container %q declares ports %v: only scimtrail should be reachable", app.Name, app.Ports)
		}
	}
}

func portNamed(c *corev1.Container, name string) *corev1.ContainerPort {
	for i := range c.Ports {
		if c.Ports[i].Name == name {
			return &c.Ports[i]
		}
	}
	return nil
}

// checkProbe asserts an HTTP GET of path on the admin port.
func checkProbe(t *testing.T, what string, c *corev1.Container, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("scimtrail %s: want an httpGet of %s on the admin port, got %+v", what, path, p)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("scimtrail %s path = %q, want %q", what, p.HTTPGet.Path, path)
	}
	if port, ok := resolvePort(c, p.HTTPGet.Port); !ok || port != adminPort {
		t.Errorf("scimtrail %s port %s resolves to %d, want the admin port %d", what, p.HTTPGet.Port.String(), port, adminPort)
	}
	if s := p.HTTPGet.Scheme; s != "" && s != corev1.URISchemeHTTP {
		t.Errorf("scimtrail %s scheme = %s, want HTTP", what, s)
	}
}

// resolvePort resolves a port by name or number against c's ports.
func resolvePort(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func checkSecurity(t *testing.T, pod *corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("scimtrail has no securityContext")
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	isID := func(v *int64) bool { return v != nil && *v == nonrootID }
	if !isTrue(sc.RunAsNonRoot) {
		t.Error("scimtrail securityContext.runAsNonRoot is not true")
	}
	if !isID(sc.RunAsUser) || !isID(sc.RunAsGroup) {
		t.Errorf("scimtrail runs as %v:%v, want the image's nonroot %d:%d", sc.RunAsUser, sc.RunAsGroup, nonrootID, nonrootID)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("scimtrail securityContext.readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("scimtrail securityContext.allowPrivilegeEscalation is not false")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("scimtrail capabilities = %+v, want drop [ALL] and no add", sc.Capabilities)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("scimtrail is privileged")
	}
	ps := pod.SecurityContext
	seccomp := sc.SeccompProfile
	if seccomp == nil && ps != nil {
		seccomp = ps.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("scimtrail seccompProfile = %+v, want RuntimeDefault", seccomp)
	}
	if ps == nil || !isID(ps.FSGroup) {
		t.Error("pod securityContext.fsGroup is not 65532: the nonroot user could not write its state volume")
	}
	if ps == nil || !isTrue(ps.RunAsNonRoot) {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
}

// checkVolumes asserts the config directory is the ConfigMap and the state
// directory the PersistentVolumeClaim of the bundle (or, with no claim in
// the bundle, an emptyDir).
func (d *deployment) checkVolumes(t *testing.T, b *bundle) {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range d.Pod.Volumes {
		volumes[v.Name] = v
	}
	mounted := map[string]corev1.Volume{}
	for _, m := range d.Scimtrail.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Errorf("scimtrail mounts %q, which is no volume of the pod", m.Name)
		}
		mounted[m.MountPath] = v
		if m.MountPath == configDir && !m.ReadOnly {
			t.Errorf("%s is mounted read-write", configDir)
		}
	}

	cm := one(t, "ConfigMap", b.ConfigMaps)
	if v := mounted[configDir]; v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
		t.Errorf("%s is not the ConfigMap %q but %s", configDir, cm.Name, describeVolume(v))
	}
	if _, ok := cm.Data[configKey]; !ok {
		t.Errorf("ConfigMap %q has no %s", cm.Name, configKey)
	}

	state := mounted[stateDir]
	switch len(b.Claims) {
	case 0:
		if state.EmptyDir == nil {
			t.Errorf("%s is neither a PersistentVolumeClaim nor an emptyDir but %s", stateDir, describeVolume(state))
		}
	case 1:
		claim := b.Claims[0]
		if state.PersistentVolumeClaim == nil || state.PersistentVolumeClaim.ClaimName != claim.Name {
			t.Errorf("%s is not the PersistentVolumeClaim %q but %s", stateDir, claim.Name, describeVolume(state))
		}
		if !slices.Equal(claim.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
			t.Errorf("claim %q access modes = %v, want [ReadWriteOnce]: one spool, one pod", claim.Name, claim.Spec.AccessModes)
		}
		if _, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			t.Errorf("claim %q requests no storage", claim.Name)
		}
	default:
		t.Errorf("%d PersistentVolumeClaims, want one", len(b.Claims))
	}
}

// describeVolume names a volume's source for a message.
func describeVolume(v corev1.Volume) string {
	switch {
	case v.Name == "":
		return "not mounted"
	case v.PersistentVolumeClaim != nil:
		return fmt.Sprintf("volume %q, the claim %q", v.Name, v.PersistentVolumeClaim.ClaimName)
	case v.ConfigMap != nil:
		return fmt.Sprintf("volume %q, the ConfigMap %q", v.Name, v.ConfigMap.Name)
	case v.EmptyDir != nil:
		return fmt.Sprintf("volume %q, an emptyDir", v.Name)
	}
	return fmt.Sprintf("volume %q", v.Name)
}

// checkService asserts that every port of the Service reaches scimtrail's
// proxy port, never the app: the IdP's requests must all be recorded.
func (d *deployment) checkService(t *testing.T) {
	t.Helper()
	labels := d.Deployment.Spec.Template.Labels
	if len(d.Service.Spec.Selector) == 0 {
		t.Error("Service has no selector")
	}
	for k, v := range d.Service.Spec.Selector {
		if labels[k] != v {
			t.Errorf("Service selector %s=%s does not select the pod (labels %v)", k, v, labels)
		}
	}
	if len(d.Service.Spec.Ports) == 0 {
		t.Fatal("Service has no ports")
	}
	for _, sp := range d.Service.Spec.Ports {
		target := sp.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(sp.Port) // unset: the port itself
		}
		var owners []string
		for _, c := range append(slices.Clone(d.Pod.InitContainers), d.Pod.Containers...) {
			if _, ok := resolvePort(&c, target); ok {
				owners = append(owners, c.Name)
			}
		}
		port, _ := resolvePort(d.Scimtrail, target)
		if !slices.Equal(owners, []string{sidecarName}) || port != proxyPort {
			t.Errorf("Service port %d targets %s, which resolves to containers %v port %d; want scimtrail's %d only",
				sp.Port, target.String(), owners, port, proxyPort)
		}
	}
}

// checkConfig asserts that the ConfigMap's scimtrail.yaml agrees with the
// pod: the ports the probes and the Service use, the state directory on
// the volume, a grace period that fits the drain, the password from the
// environment.
func (d *deployment) checkConfig(t *testing.T, b *bundle) {
	t.Helper()
	cm := one(t, "ConfigMap", b.ConfigMaps)
	d.ConfigText = cm.Data[configKey]
	if err := yaml.Unmarshal([]byte(d.ConfigText), &d.Config); err != nil {
		t.Fatalf("ConfigMap %s: %v", configKey, err)
	}
	str := func(key string) string { s, _ := d.Config[key].(string); return s }

	if _, port, err := net.SplitHostPort(str("listen")); err != nil || port != strconv.Itoa(proxyPort) {
		t.Errorf(`config "listen" = %q, want port %d (the container's %q port)`, str("listen"), proxyPort, proxyPortName)
	}
	host, port, err := net.SplitHostPort(str("admin-listen"))
	if err != nil || port != strconv.Itoa(adminPort) || (host != "0.0.0.0" && host != "" && host != "::") {
		t.Errorf(`config "admin-listen" = %q, want 0.0.0.0:%d so the kubelet's probes reach it`, str("admin-listen"), adminPort)
	}
	if got := str("state-dir"); got != stateDir {
		t.Errorf(`config "state-dir" = %q, want the volume at %s`, got, stateDir)
	}
	if _, ok := d.Config["spool-dir"]; ok {
		t.Error(`config sets "spool-dir": the spool must stay on the state volume`)
	}
	if d.Sidecar {
		// The app is in the pod, on the loopback address.
		u, err := url.Parse(str("upstream"))
		if err != nil || u.Hostname() != "127.0.0.1" {
			t.Errorf(`config "upstream" = %q, want the app on 127.0.0.1`, str("upstream"))
		}
	}

	timeout := 30 * time.Second
	if s := str("shutdown-timeout"); s != "" {
		if timeout, err = time.ParseDuration(s); err != nil {
			t.Errorf(`config "shutdown-timeout": %v`, err)
		}
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := d.Pod.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if time.Duration(grace)*time.Second <= 2*timeout {
		t.Errorf("terminationGracePeriodSeconds %d does not exceed twice shutdown-timeout %s: the kubelet would kill the drain", grace, timeout)
	}

	// The password comes from a Secret through the environment, never
	// from the ConfigMap.
	if pw, ok := d.Config["kafka-sasl-password"]; ok {
		if pw != "${"+passwordEnvVar+"}" {
			t.Errorf(`config "kafka-sasl-password" = %q, want ${%s}`, pw, passwordEnvVar)
		}
		var ref *corev1.SecretKeySelector
		for _, e := range d.Scimtrail.Env {
			if e.Name == passwordEnvVar && e.ValueFrom != nil {
				ref = e.ValueFrom.SecretKeyRef
			}
		}
		if ref == nil {
			t.Fatalf("scimtrail has no env %s from a Secret", passwordEnvVar)
		}
		checkSecretKey(t, b, ref.Name, ref.Key)
	}

	// OTLP header values (API keys, tokens) come from a Secret through
	// OTEL_EXPORTER_OTLP_HEADERS, never from the ConfigMap or a literal
	// value in the pod spec.
	if _, ok := d.Config["otlp-header"]; ok {
		t.Errorf(`config sets "otlp-header": header values belong in a Secret, given as %s`, headersEnvVar)
	}
	for _, e := range d.Scimtrail.Env {
		if !strings.HasPrefix(e.Name, "OTEL_EXPORTER_OTLP_") || !strings.HasSuffix(e.Name, "HEADERS") {
			continue
		}
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("scimtrail env %s is not a secretKeyRef: the headers carry credentials", e.Name)
			continue
		}
		checkSecretKey(t, b, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
	}

	// Every ${NAME} the config names (without a default) is in the
	// container's environment: scimtrail refuses to start on an unset one.
	env := map[string]bool{}
	for _, e := range d.Scimtrail.Env {
		env[e.Name] = true
	}
	for _, name := range envRefs(d.Config) {
		if !env[name] {
			t.Errorf("the config names ${%s}, which scimtrail's env does not set: scimtrail would refuse to start", name)
		}
	}

	// The registry is on the state volume: the root filesystem is
	// read-only, and the registry is state to keep like the spool.
	if path, ok := d.Config["registry"]; ok {
		if p, _ := path.(string); !strings.HasPrefix(p, stateDir+"/") {
			t.Errorf(`config "registry" = %v, want a file on the state volume %s`, path, stateDir)
		}
	}

	// A CA bundle the config names is a file of a Secret mounted read-only.
	for _, key := range []string{"kafka-tls-ca", "otlp-ca-file"} {
		if path := str(key); path != "" {
			d.secretFile(t, b, key, path)
		}
	}
}

// envRef is a ${NAME} or ${NAME:-default} reference, as scimtrail expands
// them in config values.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// envRefs lists the variables the config's values (strings, or lists of
// them) name without a default, sorted.
func envRefs(config map[string]any) []string {
	var values []string
	for _, v := range config {
		switch v := v.(type) {
		case string:
			values = append(values, v)
		case []any:
			for _, item := range v {
				if s, ok := item.(string); ok {
					values = append(values, s)
				}
			}
		}
	}
	var names []string
	for _, v := range values {
		for _, m := range envRef.FindAllStringSubmatch(v, -1) {
			if m[2] == "" && !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	slices.Sort(names)
	return names
}

// checkSecretKey fails t when the Secret name is in the bundle without key.
// A Secret the bundle does not hold is created out of band.
func checkSecretKey(t *testing.T, b *bundle, name, key string) {
	t.Helper()
	for _, s := range b.Secrets {
		if s.Name == name {
			if _, ok := s.StringData[key]; !ok {
				if _, ok := s.Data[key]; !ok {
					t.Errorf("Secret %q has no key %q", s.Name, key)
				}
			}
		}
	}
}

// secretFile finds the Secret volume of the scimtrail container that holds
// path, the value of the config key setting, and returns the Secret's name
// and the key that file is.
func (d *deployment) secretFile(t *testing.T, b *bundle, setting, path string) (secret, key string) {
	t.Helper()
	var mount *corev1.VolumeMount
	for i, m := range d.Scimtrail.VolumeMounts {
		if strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") && (mount == nil || len(m.MountPath) > len(mount.MountPath)) {
			mount = &d.Scimtrail.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Errorf("config %q = %s, which no volume of scimtrail holds", setting, path)
		return "", ""
	}
	var src *corev1.SecretVolumeSource
	for _, v := range d.Pod.Volumes {
		if v.Name == mount.Name {
			src = v.Secret
		}
	}
	if src == nil {
		t.Errorf("config %q = %s is on volume %q, not a Secret", setting, path, mount.Name)
		return "", ""
	}
	if !mount.ReadOnly {
		t.Errorf("config %q: the Secret volume %q is mounted read-write", setting, mount.Name)
	}
	rel := strings.TrimPrefix(path, strings.TrimSuffix(mount.MountPath, "/")+"/")
	key = rel
	if len(src.Items) > 0 {
		key = ""
		for _, it := range src.Items {
			if it.Path == rel {
				key = it.Key
			}
		}
		if key == "" {
			t.Errorf("config %q = %s: the Secret %q's items make no file %s", setting, path, src.SecretName, rel)
			return src.SecretName, ""
		}
	}
	checkSecretKey(t, b, src.SecretName, key)
	return src.SecretName, key
}

// checkNetworkPolicy asserts the policy selects the pod and lets in only
// the proxy and admin ports, and lets out DNS.
func (d *deployment) checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy) {
	t.Helper()
	labels := d.Deployment.Spec.Template.Labels
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if labels[k] != v {
			t.Errorf("NetworkPolicy selector %s=%s does not select the pod", k, v)
		}
	}
	if len(np.Spec.PodSelector.MatchLabels) == 0 {
		t.Error("NetworkPolicy selects every pod of the namespace")
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("NetworkPolicy policyTypes = %v, want [Ingress Egress]", np.Spec.PolicyTypes)
	}
	ports := policyPorts(np)
	if want := []string{"TCP/8080", "TCP/9464"}; !slices.Equal(ports.Ingress, want) {
		t.Errorf("NetworkPolicy ingress ports = %v, want %v", ports.Ingress, want)
	}
	for _, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 {
			t.Errorf("NetworkPolicy ingress rule %v allows any source", rule.Ports)
		}
		if len(rule.Ports) == 0 {
			t.Error("NetworkPolicy ingress rule allows every port")
		}
	}
	for _, dns := range []string{"TCP/53", "UDP/53"} {
		if !slices.Contains(ports.Egress, dns) {
			t.Errorf("NetworkPolicy egress lacks DNS %s: %v", dns, ports.Egress)
		}
	}
}

type portSets struct{ Ingress, Egress []string }

// policyPorts lists a policy's ports as PROTOCOL/PORT, sorted.
func policyPorts(np *networkingv1.NetworkPolicy) portSets {
	name := func(p networkingv1.NetworkPolicyPort) string {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		port := "*"
		if p.Port != nil {
			port = p.Port.String()
		}
		return string(proto) + "/" + port
	}
	var s portSets
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			s.Ingress = append(s.Ingress, name(p))
		}
	}
	for _, r := range np.Spec.Egress {
		for _, p := range r.Ports {
			s.Egress = append(s.Egress, name(p))
		}
	}
	slices.Sort(s.Ingress)
	slices.Sort(s.Egress)
	return s
}

// shape is what a rendering of the chart must share with the plain
// manifests: how scimtrail runs, is probed, is confined, keeps its state
// and is reached. Site-specific values (names, images, config, address
// ranges) are left out.
type shape struct {
	Strategy                      appsv1.DeploymentStrategyType
	Replicas                      *int32
	NativeSidecar                 bool
	RestartPolicy                 *corev1.ContainerRestartPolicy
	Args                          []string
	Ports                         []corev1.ContainerPort
	StartupProbe                  *corev1.Probe
	LivenessProbe                 *corev1.Probe
	ReadinessProbe                *corev1.Probe
	SecurityContext               *corev1.SecurityContext
	PodSecurityContext            *corev1.PodSecurityContext
	Resources                     corev1.ResourceRequirements
	Mounts                        []string // path:volume kind
	TerminationGracePeriodSeconds *int64
	AutomountServiceAccountToken  *bool
	ServiceTargets                []string
	AppPorts                      []corev1.ContainerPort
	AppPreStop                    *corev1.LifecycleHandler
}

func (d *deployment) shape() shape {
	s := shape{
		Strategy:                      d.Deployment.Spec.Strategy.Type,
		Replicas:                      d.Deployment.Spec.Replicas,
		NativeSidecar:                 d.Sidecar,
		RestartPolicy:                 d.Scimtrail.RestartPolicy,
		Args:                          d.Scimtrail.Args,
		Ports:                         d.Scimtrail.Ports,
		StartupProbe:                  d.Scimtrail.StartupProbe,
		LivenessProbe:                 d.Scimtrail.LivenessProbe,
		ReadinessProbe:                d.Scimtrail.ReadinessProbe,
		SecurityContext:               d.Scimtrail.SecurityContext,
		PodSecurityContext:            d.Pod.SecurityContext,
		Resources:                     d.Scimtrail.Resources,
		TerminationGracePeriodSeconds: d.Pod.TerminationGracePeriodSeconds,
		AutomountServiceAccountToken:  d.Pod.AutomountServiceAccountToken,
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range d.Pod.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range d.Scimtrail.VolumeMounts {
		if m.MountPath != configDir && m.MountPath != stateDir {
			continue // optional extras, such as a Kafka CA bundle
		}
		kind := "other"
		switch v := volumes[m.Name]; {
		case v.ConfigMap != nil:
			kind = "configMap"
		case v.PersistentVolumeClaim != nil:
			kind = "persistentVolumeClaim"
		case v.EmptyDir != nil:
			kind = "emptyDir"
		}
		s.Mounts = append(s.Mounts, m.MountPath+":"+kind)
	}
	for _, p := range d.Service.Spec.Ports {
		s.ServiceTargets = append(s.ServiceTargets, p.TargetPort.String())
	}
	for _, c := range d.Pod.Containers {
		if c.Name == sidecarName {
			continue
		}
		s.AppPorts = append(s.AppPorts, c.Ports...)
		if c.Lifecycle != nil {
			s.AppPreStop = c.Lifecycle.PreStop
		}
	}
	return s
}

// sameShape fails t when got's shape differs from want's, showing both.
func sameShape(t *testing.T, what string, want, got *deployment) {
	t.Helper()
	w, err := yaml.Marshal(want.shape())
	if err != nil {
		t.Fatal(err)
	}
	g, err := yaml.Marshal(got.shape())
	if err != nil {
		t.Fatal(err)
	}
	if string(w) != string(g) {
		t.Errorf("%s: the shape differs from the plain manifests'\nmanifests:\n%s\n%s:\n%s", what, w, what, g)
	}
}

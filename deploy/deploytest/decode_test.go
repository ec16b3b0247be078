package deploytest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// strictCodec decodes YAML into the API types of the kinds the deployment
// files may hold, refusing unknown and duplicated fields and any other
// kind: a misspelt or misplaced field would otherwise be dropped silently,
// by this decoder and by the API server alike.
var strictCodec = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}()

// bundle is a set of decoded objects, by kind.
type bundle struct {
	Kinds           []string // in the order met
	Deployments     []*appsv1.Deployment
	Services        []*corev1.Service
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	Claims          []*corev1.PersistentVolumeClaim
	NetworkPolicies []*networkingv1.NetworkPolicy
}

// add decodes every YAML document of data (source names it in errors)
// strictly and files it by kind. Documents holding only comments are
// skipped, as kubectl and Helm do.
func (b *bundle) add(source string, data []byte) error {
	r := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		if blank(doc) {
			continue
		}
		obj, gvk, err := strictCodec.Decode(doc, nil, nil)
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		b.Kinds = append(b.Kinds, gvk.Kind)
		switch o := obj.(type) {
		case *appsv1.Deployment:
			b.Deployments = append(b.Deployments, o)
		case *corev1.Service:
			b.Services = append(b.Services, o)
		case *corev1.ConfigMap:
			b.ConfigMaps = append(b.ConfigMaps, o)
		case *corev1.Secret:
			b.Secrets = append(b.Secrets, o)
		case *corev1.PersistentVolumeClaim:
			b.Claims = append(b.Claims, o)
		case *networkingv1.NetworkPolicy:
			b.NetworkPolicies = append(b.NetworkPolicies, o)
		default:
			return fmt.Errorf("%s: document %d: unexpected kind %s", source, i, gvk.Kind)
		}
	}
}

// blank reports whether a YAML document holds nothing but comments.
func blank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		if l := strings.TrimSpace(line); l != "" && l != "---" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// one returns the only element of s, failing t when there is not exactly one.
func one[T any](t *testing.T, what string, s []T) T {
	t.Helper()
	if len(s) != 1 {
		t.Fatalf("want exactly one %s, got %d", what, len(s))
	}
	return s[0]
}

func TestStrictDecoding_RejectsUnknownField(t *testing.T) {
	// A probe one level too high: a lenient decoder drops it, and the
	// container runs without it.
	const doc = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: i
      livenessProbe:
        httpGet: {path: /healthz, port: 9464}
`
	var b bundle
	err := b.add("test", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "livenessProbe") {
		t.Fatalf("want an unknown field error naming livenessProbe, got %v", err)
	}
}

func TestStrictDecoding_RejectsDuplicateField(t *testing.T) {
	const doc = `apiVersion: v1
kind: Service
metadata:
  name: x
  name: y
`
	var b bundle
	if err := b.add("test", []byte(doc)); err == nil {
		t.Fatal("a duplicated field decoded without error")
	}
}

func TestStrictDecoding_RejectsUnknownKind(t *testing.T) {
	const doc = `apiVersion: batch/v1
kind: Job
metadata:
  name: x
`
	var b bundle
	if err := b.add("test", []byte(doc)); err == nil {
		t.Fatal("a kind outside the scheme decoded without error")
	}
}

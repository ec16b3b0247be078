package proxy_test

import (
	"bytes"
	"os"
	"reflect"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scimtrail/scimtrail/proxy"
)

func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestConfig_Valid(t *testing.T) {
	var cfg proxy.Config
	decodeStrict(t, "testdata/config.yaml", &cfg)
	want := proxy.Config{
		Upstream:        "https://scim.internal:8443/scim/v2",
		UpstreamCAFile:  "/etc/scimtrail/upstream-ca.pem",
		UpstreamTimeout: 45 * time.Second,
		DialTimeout:     2 * time.Second,
		MaxIdleConns:    64,
		MaxBodyBytes:    2 << 20,
		IdPs: []string{
			"okta=token-sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			"entra=user-agent:Microsoft.AAD.Provisioning",
			"onelogin=path-prefix:/onelogin",
		},
		TrustedProxies:    []string{"10.0.0.0/8", "192.168.1.1", "fd00::/8"},
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("decoded %+v\nwant    %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := (proxy.Config{Upstream: "http://127.0.0.1:9000"}).Validate(); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}

func TestConfig_Invalid(t *testing.T) {
	var cases []struct {
		Name   string       `yaml:"name"`
		Config proxy.Config `yaml:"config"`
		Error  string       `yaml:"error"`
	}
	decodeStrict(t, "testdata/invalid_configs.yaml", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			err := tc.Config.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %+v", tc.Config)
			}
			if err.Error() != tc.Error {
				t.Errorf("Validate:\n got %s\nwant %s", err, tc.Error)
			}
		})
	}
}

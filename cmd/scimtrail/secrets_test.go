package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/exporter/otlp/otlptest"
	"github.com/scimtrail/scimtrail/internal/scimtest"
)

// TestOutputs_NeverContainAuthorization runs both provisioning cycles,
// then searches every output scimtrail has — the record file, the OTLP
// receiver's records, its own logs at debug level, /readyz and /metrics —
// for the bearer tokens and the passwords the IdPs sent, and the OTLP
// credential header (the receiver refuses it once, so it is in an error).
func TestOutputs_NeverContainAuthorization(t *testing.T) {
	const otlpSecret = "otlp-secret-77cc88dd"
	var refused atomic.Bool
	rcv := otlptest.NewHTTP(t, otlptest.WithRefuse(func(int, otlptest.Request) *otlptest.Refusal {
		if refused.CompareAndSwap(false, true) {
			return &otlptest.Refusal{Status: http.StatusUnauthorized, Message: "bad credentials"}
		}
		return nil
	}))
	e := startE2E(t, e2eOptions{patchNoContent: true, otlp: otlp.Config{Endpoint: rcv.Endpoint(),
		Headers: map[string]string{"Authorization": "Bearer " + otlpSecret}}})
	e.run(scimtest.ExpectPatchNoContent(slices.Concat(scimtest.OktaCycle(), scimtest.EntraCycle())))
	// A request the upstream refuses, with a token no IdP matcher knows.
	req, err := http.NewRequest(http.MethodGet, e.base+"/scim/v2/Users/nope", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer stranger-token-55aa66bb")
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	mresp, err := client.Get("http://" + e.st.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if err != nil || mresp.StatusCode != http.StatusOK || !strings.Contains(string(metrics), "scimtrail_requests_total") {
		t.Fatalf("/metrics: %d %v", mresp.StatusCode, err)
	}
	readyz := httpGet(t, "http://"+e.st.adminAddr+"/readyz")
	records := e.records()
	otlpRecords, err := json.Marshal(rcv.Wait(len(records)))
	if err != nil {
		t.Fatal(err)
	}
	if !refused.Load() || !strings.Contains(e.logs.String(), "http 401") {
		t.Fatal("the OTLP receiver never refused: the test would prove nothing of the header")
	}
	raw, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) == 0 || !strings.Contains(string(raw), `\"password\":\"[REDACTED]\"`) {
		t.Fatalf("no redacted password in the records: the test would prove nothing")
	}
	outputs := map[string]string{"records": string(raw), "otlp records": string(otlpRecords), "logs": e.logs.String(),
		"metrics": string(metrics), "readyz": readyz}
	secrets := []string{oktaToken, entraToken, "stranger-token-55aa66bb", "Bearer", otlpSecret,
		"Alice-Pa55word!", "Bob-Pa55word!", "Alice-N3w-Pa55word!"}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s contain %q", name, s)
			}
		}
	}
}

// An OTLP header written as HTTP spells it ("Authorization: Bearer …")
// instead of key=value is refused without the refusal quoting it: the
// flag package, the config file's error and the header-name check would
// each have printed the credential.
func TestConfigErrors_NeverShowAMalformedOTLPHeader(t *testing.T) {
	const secret = "hdr-secret-31ee42ff"
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "")
	base := []string{"config", "check", "--upstream", "http://127.0.0.1:9000", "--otlp-endpoint", "http://127.0.0.1:4318"}
	file := filepath.Join(t.TempDir(), "scimtrail.yaml")
	if err := os.WriteFile(file, []byte("upstream: http://127.0.0.1:9000\notlp-endpoint: http://127.0.0.1:4318\n"+
		"otlp-header: [\"Authorization: Bearer "+secret+"\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		args []string
		env  string
	}{
		"flag without =":        {args: append(slices.Clone(base), "--otlp-header", "Authorization: Bearer "+secret)},
		"flag, base64 padding":  {args: append(slices.Clone(base), "--otlp-header", "Authorization: Basic "+secret+"==")},
		"config file without =": {args: []string{"config", "check", "--config", file}},
		"variable, bad name":    {args: base, env: "Authorization: Basic " + secret + "=="},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", tc.env)
			var stdout, stderr strings.Builder
			code := run(t.Context(), tc.args, &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), `"otlp-header"`) {
				t.Errorf("status %d, stderr %q: want 2 and the key named", code, stderr.String())
			}
			if strings.Contains(stderr.String()+stdout.String(), secret) {
				t.Errorf("the header's credential was shown: %q", stderr.String())
			}
		})
	}
}

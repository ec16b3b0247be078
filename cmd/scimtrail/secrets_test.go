package main

import (
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/internal/scimtest"
)

// TestOutputs_NeverContainAuthorization runs both provisioning cycles,
// then searches every output scimtrail has — the record file, its own logs
// at debug level, and /metrics — for the bearer tokens and the passwords
// the IdPs sent.
func TestOutputs_NeverContainAuthorization(t *testing.T) {
	e := startE2E(t, e2eOptions{patchNoContent: true})
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
	records := e.records()
	raw, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) == 0 || !strings.Contains(string(raw), `\"password\":\"[REDACTED]\"`) {
		t.Fatalf("no redacted password in the records: the test would prove nothing")
	}
	outputs := map[string]string{"records": string(raw), "logs": e.logs.String(), "metrics": string(metrics)}
	secrets := []string{oktaToken, entraToken, "stranger-token-55aa66bb", "Bearer",
		"Alice-Pa55word!", "Bob-Pa55word!", "Alice-N3w-Pa55word!"}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s contain %q", name, s)
			}
		}
	}
}

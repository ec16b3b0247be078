package tlsfile_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/internal/tlsfile"
	"github.com/scimtrail/scimtrail/proxy/ca"
)

func TestClient_LoadsCAAndPairAndNamesTheKeyOnError(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, err := ca.Create(ca.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, err := ca.WriteFiles(dir, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tlsfile.Client(tlsfile.Files{CAFile: certPath, CAKey: "x-ca", CertFile: certPath, KeyFile: keyPath, PairKeys: `"x-cert", "x-key"`})
	if err != nil {
		t.Fatal(err)
	}
	if tc.MinVersion != tls.VersionTLS12 || tc.RootCAs == nil || len(tc.Certificates) != 1 {
		t.Errorf("config %+v", tc)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	if _, err := tlsfile.Client(tlsfile.Files{CAFile: junk, CAKey: "x-ca"}); err == nil || err.Error() != `"x-ca": `+junk+` holds no PEM certificate` {
		t.Errorf("junk CA: %v", err)
	}
	if _, err := tlsfile.Client(tlsfile.Files{CertFile: certPath, KeyFile: junk, PairKeys: `"x-cert", "x-key"`}); err == nil || !strings.HasPrefix(err.Error(), `"x-cert", "x-key": `) {
		t.Errorf("bad pair: %v", err)
	}
	if tc, err := tlsfile.Client(tlsfile.Files{}); err != nil || tc.RootCAs != nil {
		t.Errorf("no files: %v %v", tc, err)
	}
}

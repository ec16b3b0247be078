package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/scimtrail/scimtrail/proxy/ca"
)

// runCA is "scimtrail ca create": a new CA for the egress mode, written to
// --out as ca.crt and ca.key, and how to make the SCIM client trust it.
func runCA(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, "Usage: scimtrail ca create --out DIR [--permit HOST]... [--validity 8760h]\n")
		return 2
	}
	fs := flag.NewFlagSet("scimtrail ca create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "`directory` to write ca.crt and ca.key to (required; created 0700; existing files are never overwritten)")
	var permit []string
	fs.Var(listFlag{items: &permit, split: true}, "permit", "limit the CA, by X.509 name constraints, to these `hosts` (and their subdomains), the ones --allow-host names; repeatable. A stolen key then cannot impersonate any other site")
	validity := fs.Duration("validity", ca.DefaultValidity, "how long the CA is valid")
	name := fs.String("name", "scimtrail egress CA", "the CA's common `name`, as the clients' trust stores show it")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: scimtrail ca create --out DIR [flags]\n\n"+
			"Make the CA that \"scimtrail forward\" presents to SCIM clients (ECDSA P-256; leaf\n"+
			"certificates are minted per host, valid 24 hours, kept in memory).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, "scimtrail ca create: requires --out DIR and no arguments\n")
		return 2
	}
	certPEM, keyPEM, err := ca.Create(ca.CreateOptions{CommonName: *name, Validity: *validity, PermittedHosts: permit, Now: time.Now})
	if err != nil {
		fmt.Fprintf(stderr, "scimtrail ca create: %v\n", err)
		return 1
	}
	certPath, keyPath, err := ca.WriteFiles(*out, certPEM, keyPEM)
	if err != nil {
		fmt.Fprintf(stderr, "scimtrail ca create: %v\n", err)
		return 1
	}
	constraint := "any host (no --permit): keep the key as safe as a wildcard certificate's"
	if len(permit) > 0 {
		constraint = fmt.Sprint(permit)
	}
	fmt.Fprintf(stdout, `Wrote %s (the CA certificate, public) and %s (its key: readable by scimtrail only).
The CA may vouch for: %s. Valid until %s.

Run the proxy with it:
  scimtrail forward --listen 127.0.0.1:3128 --allow-host api.vendor.example \
      --ca-cert %s --ca-key %s --log-file -

Make the SCIM client trust %s and use the proxy (HTTPS_PROXY=http://127.0.0.1:3128):
  Debian, Ubuntu:   cp %s /usr/local/share/ca-certificates/scimtrail-egress.crt && update-ca-certificates
  RHEL, Fedora:     cp %s /etc/pki/ca-trust/source/anchors/ && update-ca-trust
  Java:             keytool -importcert -cacerts -alias scimtrail-egress -file %s
  Node.js:          NODE_EXTRA_CA_CERTS=%s
  Python requests:  REQUESTS_CA_BUNDLE=<system bundle with %s appended>
  Go:               SSL_CERT_FILE=<system bundle with %s appended>
Trust it for the SCIM client only (its own trust store or container image), not machine-wide, where possible.
`, certPath, keyPath, constraint, time.Now().Add(*validity).UTC().Format(time.RFC3339),
		certPath, keyPath, certPath, certPath, certPath, certPath, certPath, certPath, certPath)
	return 0
}

package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of CreateOptions and Authority.
const (
	// DefaultValidity is how long a CA made by Create is valid.
	DefaultValidity = 365 * 24 * time.Hour
	// DefaultLeafValidity is how long a leaf certificate is valid. It is
	// minted again from the cache an hour before it expires.
	DefaultLeafValidity = 24 * time.Hour
	// CertFile and KeyFile are the names WriteFiles uses.
	CertFile = "ca.crt"
	KeyFile  = "ca.key"
)

// leafRenewBefore is how long before its expiry a cached leaf is replaced.
const leafRenewBefore = time.Hour

// maxCachedLeaves bounds the leaf cache: a "*.domain" allow-host lets a
// client name any number of hosts. Past it, an arbitrary leaf is dropped
// (and minted again if its host comes back).
const maxCachedLeaves = 4096

// backdate covers clocks a little behind ours.
const backdate = 5 * time.Minute

// CreateOptions describe a new CA. The zero value makes a CA valid for a
// year with no name constraints.
type CreateOptions struct {
	// CommonName names the CA in the clients' trust stores. Default
	// "scimtrail egress CA".
	CommonName string
	// Validity is how long the CA is valid. Default one year.
	Validity time.Duration
	// PermittedHosts, when set, become X.509 name constraints: the CA can
	// only vouch for these DNS names (and their subdomains) and IP
	// addresses, so a stolen key cannot impersonate any other site to the
	// clients that trust it. They are written as --allow-host writes them:
	// "*.vendor.example" permits the subdomains of vendor.example only.
	// Ports are ignored. A kind of name none of them is (DNS names, IP
	// addresses) is excluded altogether. An entry that is not a host is an
	// error.
	PermittedHosts []string
	// Now and Rand default to time.Now and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
}

// Create makes a CA: an ECDSA P-256 key and a self-signed certificate
// that may sign leaf certificates only (path length 0). It returns both in
// PEM; the key is PKCS #8.
func Create(opts CreateOptions) (certPEM, keyPEM []byte, err error) {
	now, rnd := opts.Now, opts.Rand
	if now == nil {
		now = time.Now
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	validity := opts.Validity
	if validity <= 0 {
		validity = DefaultValidity
	}
	name := opts.CommonName
	if name == "" {
		name = "scimtrail egress CA"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: generate key: %w", err)
	}
	serial, err := serialNumber(rnd)
	if err != nil {
		return nil, nil, err
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"scimtrail"}},
		NotBefore:             t.Add(-backdate),
		NotAfter:              t.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// SubjectKeyId: filled in by CreateCertificate for a CA.
	}
	if err := constrain(tmpl, opts.PermittedHosts); err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: sign: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil
}

// noDNSName is the only DNS subtree permitted to a CA limited to IP
// addresses: the reserved top-level domain "invalid" (RFC 6761), which no
// real name is under.
const noDNSName = "invalid"

// constrain sets tmpl's name constraints from the permitted hosts. Without
// a constraint of a kind, X.509 leaves that kind unconstrained (RFC 5280
// 4.2.1.10), so the kind no host is of is excluded: every IP address for a
// CA of DNS names, every DNS name (but under "invalid") for a CA of
// addresses.
func constrain(tmpl *x509.Certificate, hosts []string) error {
	for _, h := range hosts {
		host, err := permittedHost(h)
		if err != nil {
			return err
		}
		if ip := net.ParseIP(host); ip != nil {
			bits := 8 * net.IPv6len
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 8*net.IPv4len
			}
			tmpl.PermittedIPRanges = append(tmpl.PermittedIPRanges, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		tmpl.PermittedDNSDomains = append(tmpl.PermittedDNSDomains, host)
	}
	switch {
	case len(hosts) == 0:
		return nil
	case len(tmpl.PermittedIPRanges) == 0:
		tmpl.ExcludedIPRanges = []*net.IPNet{
			{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 8*net.IPv4len)},
			{IP: net.IPv6zero, Mask: net.CIDRMask(0, 8*net.IPv6len)},
		}
	case len(tmpl.PermittedDNSDomains) == 0:
		tmpl.PermittedDNSDomains = []string{noDNSName}
	}
	tmpl.PermittedDNSDomainsCritical = true
	return nil
}

// permittedHost is one PermittedHosts entry as a constraint: an IP
// address, a DNS name (lower case, no trailing dot), or ".domain" for
// "*.domain" (its subdomains only).
func permittedHost(spec string) (string, error) {
	bad := fmt.Errorf(`ca: permit %q: want a host name, "*." and a domain, or an IP address`, spec)
	trimmed := strings.TrimSpace(spec)
	if strings.ContainsAny(trimmed, "/@?# ") {
		return "", bad
	}
	if _, port, err := net.SplitHostPort(trimmed); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", bad
		}
	}
	host := strings.ToLower(hostOnly(trimmed))
	if ip := net.ParseIP(host); ip != nil {
		return host, nil
	}
	name, wildcard := strings.CutPrefix(host, "*.")
	name = strings.TrimSuffix(name, ".")
	if !validDNSName(name) {
		return "", bad
	}
	if wildcard {
		return "." + name, nil
	}
	return name, nil
}

// validDNSName reports whether name is dot-separated labels of letters,
// digits and hyphens (the xn-- form for other scripts).
func validDNSName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// WriteFiles writes the CA into dir as ca.crt (0644) and ca.key (0600),
// creating dir (0700) if needed. It never overwrites: an existing file is
// an error, so a CA the clients trust is not replaced by accident.
func WriteFiles(dir string, certPEM, keyPEM []byte) (certPath, keyPath string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("ca: %w", err)
	}
	certPath, keyPath = filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	for _, p := range []string{certPath, keyPath} {
		// Both checked first, so a half-existing pair is not topped up.
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("ca: %s already exists; a CA is never overwritten", p)
		}
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{keyPath, keyPEM, 0o600}, {certPath, certPEM, 0o644}} {
		fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return "", "", fmt.Errorf("ca: %w", err)
		}
		_, werr := fh.Write(f.data)
		serr := fh.Sync()
		cerr := fh.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			return "", "", fmt.Errorf("ca: write %s: %w", f.path, err)
		}
	}
	return certPath, keyPath, nil
}

// Authority mints leaf certificates for the hosts the egress proxy
// intercepts, signed by a CA, and caches them in memory until an hour
// before they expire. One ECDSA P-256 key serves every leaf of a process.
// It is safe for concurrent use.
type Authority struct {
	cert     *x509.Certificate
	certDER  []byte
	key      crypto.Signer
	leafKey  *ecdsa.PrivateKey
	validity time.Duration
	now      func() time.Time
	rand     io.Reader

	mu    sync.Mutex
	cache map[string]*tls.Certificate
}

// Load reads a CA certificate and its private key (PKCS #8, EC or PKCS #1)
// from PEM files, as Create and WriteFiles make them. The certificate
// must be a CA that may sign certificates, valid now.
func Load(certFile, keyFile string) (*Authority, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("ca: load %s, %s: %w", certFile, keyFile, err)
	}
	return New(pair, time.Now)
}

// New makes an Authority of a loaded CA key pair; now is its clock
// (time.Now when nil).
func New(pair tls.Certificate, now func() time.Time) (*Authority, error) {
	if now == nil {
		now = time.Now
	}
	if len(pair.Certificate) == 0 {
		return nil, errors.New("ca: no certificate")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("ca: parse certificate: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("ca: the certificate is not a CA that may sign certificates")
	}
	if t := now(); t.Before(cert.NotBefore) || t.After(cert.NotAfter) {
		return nil, fmt.Errorf("ca: the CA certificate is valid from %s to %s, not now",
			cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("ca: the private key cannot sign")
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: generate leaf key: %w", err)
	}
	return &Authority{
		cert: cert, certDER: pair.Certificate[0], key: signer, leafKey: leafKey,
		validity: DefaultLeafValidity, now: now, rand: rand.Reader,
		cache: map[string]*tls.Certificate{},
	}, nil
}

// Certificate returns a leaf certificate for host (a DNS name or an IP
// address; a port is ignored), valid for DefaultLeafValidity but never
// past the CA's own expiry, with the CA certificate as its chain. A
// trailing dot names the same host. At most maxCachedLeaves leaves are kept.
func (a *Authority) Certificate(host string) (*tls.Certificate, error) {
	host = strings.TrimSuffix(strings.ToLower(hostOnly(host)), ".")
	if host == "" {
		return nil, errors.New("ca: no host name")
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.cache[host]; ok && now.Before(c.Leaf.NotAfter.Add(-leafRenewBefore)) {
		return c, nil
	}
	c, err := a.mint(host, now)
	if err != nil {
		return nil, err
	}
	if _, ok := a.cache[host]; !ok && len(a.cache) >= maxCachedLeaves {
		for h := range a.cache { // map order: an arbitrary one
			delete(a.cache, h)
			break
		}
	}
	a.cache[host] = c
	return c, nil
}

func (a *Authority) mint(host string, now time.Time) (*tls.Certificate, error) {
	serial, err := serialNumber(a.rand)
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(a.validity)
	if notAfter.After(a.cert.NotAfter) {
		notAfter = a.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(a.rand, tmpl, a.cert, &a.leafKey.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("ca: sign a certificate for %s: %w", host, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parse the certificate for %s: %w", host, err)
	}
	return &tls.Certificate{Certificate: [][]byte{der, a.certDER}, PrivateKey: a.leafKey, Leaf: leaf}, nil
}

// CACertificate is the CA's certificate, for tests and for printing.
func (a *Authority) CACertificate() *x509.Certificate { return a.cert }

// hostOnly drops a port and IPv6 brackets.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

func serialNumber(rnd io.Reader) (*big.Int, error) {
	n, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("ca: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

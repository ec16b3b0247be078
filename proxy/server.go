package proxy

import (
	"crypto/tls"
	"log/slog"
	"net/http"
)

// MaxHeaderBytes bounds a client's request headers. A SCIM request needs a
// bearer token and a few headers; 64 KiB leaves room for large JWTs while
// capping what each connection can make the proxy hold.
const MaxHeaderBytes = 64 << 10

// NewServer returns the listener side for h (usually a *Reverse): header
// read and idle timeouts from cfg, MaxHeaderBytes, and the server's own error
// log bridged to logger at warn level (nil discards). ReadTimeout and
// WriteTimeout stay unset, so large or streamed bodies are not cut off. For
// TLS, call ServeTLS or ListenAndServeTLS with a certificate and key; the
// TLSConfig set here only raises the minimum version to TLS 1.2. The
// caller owns the server's lifecycle (Serve, Shutdown).
func NewServer(cfg Config, h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.readHeaderTimeout(),
		IdleTimeout:       cfg.idleTimeout(),
		MaxHeaderBytes:    MaxHeaderBytes,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

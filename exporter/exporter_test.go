package exporter_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/scimtrail/scimtrail/exporter"
)

func TestPermanent(t *testing.T) {
	if exporter.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	base := io.ErrShortWrite
	p := exporter.Permanent(base)
	if !exporter.IsPermanent(p) {
		t.Fatal("IsPermanent(Permanent(err)) = false")
	}
	wrapped := fmt.Errorf("kafka: produce: %w", p)
	if !exporter.IsPermanent(wrapped) {
		t.Fatal("IsPermanent does not see through a %w wrap")
	}
	if !errors.Is(wrapped, base) {
		t.Fatal("errors.Is does not see the error Permanent wraps")
	}
	if exporter.IsPermanent(base) || exporter.IsPermanent(nil) {
		t.Fatal("IsPermanent true for an unmarked error")
	}
	if joined := errors.Join(base, p); !exporter.IsPermanent(joined) {
		t.Fatal("IsPermanent does not see a Permanent inside errors.Join")
	}
}

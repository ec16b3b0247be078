package otlp

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/scimtrail/scimtrail/exporter"
)

// grpcSender sends over OTLP/gRPC (the LogsService Export method).
type grpcSender struct {
	conn   *grpc.ClientConn
	client plogotlp.GRPCClient
	md     metadata.MD
	opts   []grpc.CallOption
	quoted secrets
}

func newGRPCSender(u *url.URL, tlsConf *tls.Config, cfg Config, userAgent string) (*grpcSender, error) {
	creds := insecure.NewCredentials()
	if tlsConf != nil {
		creds = credentials.NewTLS(tlsConf)
	}
	conn, err := grpc.NewClient(u.Host,
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent(userAgent),
		// The receiver's limit is what counts; ours must not be lower
		// than a request we choose to send.
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(math.MaxInt32)),
		// Reconnect within seconds of a receiver's return rather than
		// grpc-go's default of up to two minutes: the spool's own retries
		// find the connection ready.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", u.Host, err)
	}
	s := &grpcSender{conn: conn, client: plogotlp.NewGRPCClient(conn), md: metadata.New(cfg.Headers), quoted: newSecrets(cfg.Headers)}
	if cfg.compression() == CompressionGzip {
		s.opts = append(s.opts, grpc.UseCompressor(gzip.Name))
	}
	return s, nil
}

func (s *grpcSender) send(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	if len(s.md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, s.md)
	}
	resp, err := s.client.Export(ctx, req, s.opts...)
	if err != nil {
		return resp, classifyGRPC(err, s.quoted)
	}
	return resp, nil
}

func (s *grpcSender) close() error { return s.conn.Close() }

// classifyGRPC maps a gRPC status onto the retry layer's terms (see
// Exporter). The receiver's message goes into the error with quoted
// removed.
func classifyGRPC(err error, quoted secrets) error {
	st := status.Convert(err)
	out := fmt.Errorf("grpc %s: %s", st.Code(), quoted.redact(st.Message()))
	delay, hasDelay := retryDelay(st)
	switch st.Code() {
	case codes.InvalidArgument:
		return exporter.Permanent(out)
	case codes.ResourceExhausted:
		if hasDelay {
			return exporter.Throttle(out, delay)
		}
		// grpc-go's own refusal of a message over the server's
		// MaxRecvMsgSize: "grpc: received message larger than max".
		if strings.Contains(st.Message(), "larger than max") {
			return fmt.Errorf("%w: %w", errTooLarge, out)
		}
	}
	if hasDelay {
		return exporter.Throttle(out, delay)
	}
	return out
}

// retryDelay reads the RetryInfo detail a receiver adds to ask for a pause.
func retryDelay(st *status.Status) (time.Duration, bool) {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

package proxy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/scim"
)

// chanRecorder hands each exchange over a channel.
type chanRecorder chan *scim.Exchange

func (chanRecorder) Prepare(context.Context, *scim.Exchange, scim.FetchFunc) {}

func (c chanRecorder) Record(_ context.Context, ex *scim.Exchange, _ scim.FetchFunc) error {
	c <- ex
	return nil
}

func ExampleNewReverse() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		_, _ = io.WriteString(w, `{"totalResults":0}`)
	}))
	defer upstream.Close()

	cfg := proxy.Config{
		Upstream: upstream.URL + "/scim/v2",
		IdPs:     []string{"okta=user-agent:Okta SCIM Client"},
	}
	logger := slog.New(slog.DiscardHandler)
	recorded := make(chanRecorder, 1)
	p, err := proxy.NewReverse(cfg, recorded, logger)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Transport().CloseIdleConnections()

	// In the binary: proxy.NewServer(cfg, p, logger).Serve(listener).
	front := httptest.NewServer(p)
	defer front.Close()

	client := &http.Client{Transport: &http.Transport{}}
	req, _ := http.NewRequest(http.MethodGet, front.URL+"/Users?filter=userName%20eq%20%22ada%22", nil)
	req.Header.Set("User-Agent", "Okta SCIM Client 1.0.0")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("client: %d %s\n", resp.StatusCode, body)

	// The client may have its answer before the exchange is recorded.
	ex := <-recorded
	fmt.Printf("recorded: %s %s %s?%s -> %d %s\n", ex.IdPName, ex.Method, ex.Path, ex.RawQuery, ex.StatusCode, ex.ResponseBody)
	// Output:
	// client: 200 {"totalResults":0}
	// recorded: okta GET /Users?filter=userName%20eq%20%22ada%22 -> 200 {"totalResults":0}
}

func ExampleIdPs_Identify() {
	// The configuration holds only the token's digest.
	sum := sha256.Sum256([]byte("s3cr3t-okta-token"))
	idps, err := proxy.ParseIdPs([]string{"okta=token-sha256:" + hex.EncodeToString(sum[:])})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil)
	r.Header.Set("Authorization", "Bearer s3cr3t-okta-token")
	fmt.Println(idps.Identify(r))
	r.Header.Set("Authorization", "Bearer someone-else")
	fmt.Println(idps.Identify(r))
	// Output:
	// okta
	// unknown
}

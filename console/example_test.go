package console_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/scimtrail/scimtrail/console"
	"github.com/scimtrail/scimtrail/registry"
)

// The command mounts the console beside /healthz, /readyz and /metrics on
// the admin listener. Scripts use a bearer token; browsers, a user name
// and password from an htpasswd -B line.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "console-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	reg, err := registry.Open(context.Background(), filepath.Join(dir, "registry.db"), registry.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()

	cfg := console.Config{
		// echo -n s3cret-token | sha256sum
		TokenSHA256: []string{"a81e611a041b13f078bf8ebe5dab4d4fd63fcc5594661c918bec093a2f416a7e"},
	}
	h, err := console.New(reg, cfg, console.Options{})
	if err != nil {
		log.Fatal(err)
	}
	admin := http.NewServeMux()
	admin.Handle("/ui/", h)
	admin.Handle("/api/v1/", h)
	srv := httptest.NewServer(admin)
	defer srv.Close()

	for _, token := range []string{"", "s3cret-token"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/requests", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(resp.StatusCode, " ", string(body))
	}
	// Output:
	// 401 {"error":"credentials required"}
	// 200 {"records":[],"next":""}
}

func ExampleConfig_Validate() {
	cfg := console.Config{Users: []string{"admin:hunter2"}}
	fmt.Println(cfg.Validate())
	// Output:
	// "console-user" entry 1: user "admin": want a bcrypt hash ($2y$, $2a$ or $2b$; scimtrail console-user admin or htpasswd -nB admin prints one), got something else
}

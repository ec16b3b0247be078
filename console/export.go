package console

import (
	"encoding/csv"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/schema"
)

// MaxExport is the most records one download holds. A download follows
// the registry's cursor page by page, so its memory stays one page; the
// bound keeps one click from streaming a whole history. A "limit"
// parameter lowers it. Whether the bound cut the list short is told by
// the ExportTrailer.
const MaxExport = 100_000

// ExportTrailer is the HTTP trailer that ends a download: "complete",
// "truncated" (MaxExport or "limit" reached with more records left) or
// "failed" (the registry failed mid-way; the body stops there). A 200
// status is sent before the list is read, so only the trailer can tell.
const ExportTrailer = "Scimtrail-Export"

// Download formats.
const (
	formatCSV    = "csv"
	formatNDJSON = "ndjson"
)

// csvHeader is the fixed first row of a CSV download. Lists (events,
// members) are joined with ";".
var csvHeader = []string{"timestamp", "id", "idp_name", "action", "resource_type", "user_email", "group_name",
	"resource_id", "idp_resource_id", "outcome", "status_code", "error_detail", "events", "members_added",
	"members_removed", "no_op"}

// exportFormat returns the download asked for by ?format= or, without
// it, by the Accept header; "" for a JSON page.
func exportFormat(r *http.Request) (string, error) {
	f, err := param(r.URL.Query(), "format")
	if err != nil {
		return "", err
	}
	switch strings.ToLower(f) {
	case formatCSV:
		return formatCSV, nil
	case formatNDJSON:
		return formatNDJSON, nil
	case "json":
		return "", nil
	case "":
	default:
		return "", badParam("format", "want csv, ndjson or json")
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		switch mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part)); mt {
		case "text/csv":
			return formatCSV, nil
		case "application/x-ndjson":
			return formatNDJSON, nil
		}
	}
	return "", nil
}

// export streams the filtered list as a CSV or NDJSON attachment, newest
// first, following the cursor up to MaxExport records (or ?limit=). The
// first page is read before the status is sent, so a bad filter or a
// failing registry still gets a proper error answer.
func (c *console) export(w http.ResponseWriter, r *http.Request, format string) {
	f, err := parseFilter(r.URL.Query(), MaxExport)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	left := MaxExport
	if f.Limit > 0 {
		left = f.Limit
	}
	f.Limit = min(left, registry.MaxLimit)
	ctx := r.Context()
	p, err := c.reg.Requests(ctx, f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Trailer", ExportTrailer)
	if format == formatCSV {
		h.Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/x-ndjson")
	}
	h.Set("Content-Disposition", `attachment; filename="scimtrail-requests.`+format+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	out := newRecordWriter(w, format)
	status := "complete"
	for {
		n := min(len(p.Records), left)
		for _, rec := range p.Records[:n] {
			if err = out.write(rec); err != nil {
				break
			}
		}
		left -= n
		if err != nil || p.Next == "" {
			break
		}
		if left == 0 {
			status = "truncated"
			break
		}
		f.After, f.Limit = p.Next, min(left, registry.MaxLimit)
		if p, err = c.reg.Requests(ctx, f); err != nil {
			break
		}
	}
	if err == nil {
		err = out.flush()
	}
	if err != nil {
		status = "failed"
		if ctx.Err() == nil {
			c.log.Error("console: download failed", "path", r.URL.Path, "err", err)
		}
	}
	h.Set(ExportTrailer, status)
}

// recordWriter writes records in one download format.
type recordWriter struct {
	csv  *csv.Writer
	json *json.Encoder
}

func newRecordWriter(w http.ResponseWriter, format string) *recordWriter {
	if format == formatCSV {
		cw := csv.NewWriter(w)
		cw.Write(csvHeader)
		return &recordWriter{csv: cw}
	}
	return &recordWriter{json: json.NewEncoder(w)}
}

func (rw *recordWriter) write(rec schema.Record) error {
	if rw.json != nil {
		return rw.json.Encode(rec)
	}
	return rw.csv.Write(csvRow(rec))
}

func (rw *recordWriter) flush() error {
	if rw.csv != nil {
		rw.csv.Flush()
		return rw.csv.Error()
	}
	return nil
}

// csvRow is rec's row under csvHeader, every cell defused.
func csvRow(rec schema.Record) []string {
	row := []string{
		rec.Timestamp.UTC().Format(time.RFC3339Nano), rec.ID, rec.IdPName, rec.Action, rec.ResourceType,
		rec.UserEmail, rec.GroupName, rec.ResourceID, rec.IdPResourceID, rec.Outcome,
		strconv.Itoa(rec.StatusCode), rec.ErrorDetail, strings.Join(rec.Events, ";"),
		strings.Join(rec.MembersAdded, ";"), strings.Join(rec.MembersRemoved, ";"), strconv.FormatBool(noOp(rec)),
	}
	for i, cell := range row {
		row[i] = defuse(cell)
	}
	return row
}

// defuse keeps a spreadsheet from reading a cell as a formula (CSV
// injection): an IdP-supplied name such as "=HYPERLINK(…)" would otherwise
// run when an admin opens the download. A leading ' makes it text.
func defuse(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

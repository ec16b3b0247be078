package console

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/scimtrail/scimtrail/registry"
)

// Chart geometry, in SVG user units; the stylesheet scales it to the page
// width.
const (
	chartWidth   = 960
	chartHeight  = 220
	chartLeft    = 44 // room for the y labels
	chartBottom  = 22 // room for the x labels
	chartTop     = 8
	chartRight   = 8
	chartPalette = 8 // IdP colours (classes s0…s7) before they repeat
)

// chart is the summary's stacked bar chart: per step, each IdP's
// successes in its colour, then all errors on top in the error colour.
type chart struct {
	Width, Height  int
	Left, Bottom   float64 // the plot's left edge and baseline
	Right, Top     float64
	MidX, MidY     float64 // where "no requests" goes
	Bars           []rect
	YTicks, XTicks []tick
	Legend         []legendItem
	Empty          bool
	Label          string // the chart's accessible name
}

type rect struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type tick struct {
	X, Y  float64
	Label string
}

type legendItem struct {
	Class, Label string
}

// newChart lays s out. Heights scale to a round maximum so the y labels
// read well.
func newChart(s registry.Summary) chart {
	ch := chart{
		Width: chartWidth, Height: chartHeight,
		Left: chartLeft, Bottom: chartHeight - chartBottom,
		Right: chartWidth - chartRight, Top: chartTop,
		MidX: (chartLeft + chartWidth - chartRight) / 2, MidY: (chartTop + chartHeight - chartBottom) / 2,
		Label: fmt.Sprintf("Requests per IdP from %s to %s UTC", displayTS(s.From), displayTS(s.To)),
	}
	class := make(map[string]string, len(s.IdPs))
	for i, idp := range s.IdPs {
		class[idp] = fmt.Sprintf("s%d", i%chartPalette)
		ch.Legend = append(ch.Legend, legendItem{Class: class[idp], Label: idp})
	}
	ch.Legend = append(ch.Legend, legendItem{Class: "e", Label: "errors (all IdPs)"})
	var peak int64
	for _, b := range s.Buckets {
		var n int64
		for _, c := range b.ByIdP {
			n += c.Success + c.Error
		}
		peak = max(peak, n)
	}
	ch.Empty = peak == 0
	top := niceCeil(peak)
	plotW, plotH := ch.Right-ch.Left, ch.Bottom-ch.Top
	for _, v := range []int64{0, top / 2, top} {
		ch.YTicks = append(ch.YTicks, tick{X: ch.Left - 6, Y: ch.Bottom - float64(v)/float64(top)*plotH, Label: fmt.Sprint(v)})
	}
	n := len(s.Buckets)
	if n == 0 {
		return ch
	}
	slot := plotW / float64(n)
	barW := math.Max(slot*0.8, 1)
	every := max(1, int(math.Ceil(float64(n)/6)))
	layout := "15:04"
	if s.Step >= 24*time.Hour {
		layout = "01-02"
	} else if s.To.Sub(s.From) > 24*time.Hour {
		layout = "01-02 15h"
	}
	for i, b := range s.Buckets {
		x := ch.Left + float64(i)*slot + (slot-barW)/2
		y := ch.Bottom
		when := displayTS(b.Start)
		var errs int64
		for _, idp := range s.IdPs {
			c := b.ByIdP[idp]
			errs += c.Error
			if c.Success == 0 {
				continue
			}
			h := float64(c.Success) / float64(top) * plotH
			y -= h
			ch.Bars = append(ch.Bars, rect{X: x, Y: y, W: barW, H: h, Class: class[idp],
				Title: fmt.Sprintf("%s %s: %d succeeded", when, idp, c.Success)})
		}
		if errs > 0 {
			h := float64(errs) / float64(top) * plotH
			y -= h
			ch.Bars = append(ch.Bars, rect{X: x, Y: y, W: barW, H: h, Class: "e",
				Title: fmt.Sprintf("%s: %d failed", when, errs)})
		}
		if i%every == 0 {
			ch.XTicks = append(ch.XTicks, tick{X: x + barW/2, Y: ch.Bottom + 15, Label: b.Start.UTC().Format(layout)})
		}
	}
	return ch
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 2, so
// the middle tick is a whole number).
func niceCeil(n int64) int64 {
	if n <= 2 {
		return 2
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

// summaryView is the summary page.
type summaryView struct {
	Summary registry.Summary
	Chart   chart
	Range   string
	Ranges  []string
	PerIdP  []idpTotal
	Errors  []errorRow
	ErrURL  string // the list of the range's errors
	Total   int64
}

type idpTotal struct {
	IdP            string
	Class          string
	Success, Error int64
	URL            string
}

type errorRow struct {
	registry.ErrorCount
	URL string
}

func (c *console) summaryPage(w http.ResponseWriter, r *http.Request) {
	s, rangeName, err := c.summary(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	from := s.From.UTC().Format(time.RFC3339)
	v := summaryView{Summary: s, Chart: newChart(s), Range: rangeName}
	for _, sr := range summaryRanges {
		v.Ranges = append(v.Ranges, sr.Name)
	}
	totals := make(map[string]*idpTotal, len(s.IdPs))
	for i, idp := range s.IdPs {
		v.PerIdP = append(v.PerIdP, idpTotal{IdP: idp, Class: fmt.Sprintf("s%d", i%chartPalette),
			URL: requestsURL(url.Values{"idp": {idp}, "from": {from}})})
	}
	for i := range v.PerIdP {
		totals[v.PerIdP[i].IdP] = &v.PerIdP[i]
	}
	for _, b := range s.Buckets {
		for idp, n := range b.ByIdP {
			if t := totals[idp]; t != nil {
				t.Success += n.Success
				t.Error += n.Error
			}
		}
	}
	v.Total = s.Totals.Success + s.Totals.Error
	v.ErrURL = requestsURL(url.Values{"outcome": {"ERROR"}, "from": {from}})
	for _, e := range s.TopErrors {
		v.Errors = append(v.Errors, errorRow{ErrorCount: e,
			URL: requestsURL(url.Values{"outcome": {"ERROR"}, "idp": {e.IdP}, "from": {from}})})
	}
	c.render(w, r, http.StatusOK, "summary", page{Title: "Summary", Tab: "summary", Data: &v})
}

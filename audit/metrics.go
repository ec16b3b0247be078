package audit

import (
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimtrail/scimtrail/schema"
)

// metrics are the pipeline's Prometheus series. Label values are bounded:
// idp is a configured name or "unknown", action a known method or "OTHER".
type metrics struct {
	idps        []string
	requests    *prometheus.CounterVec
	upstream    *prometheus.HistogramVec
	incomplete  *prometheus.CounterVec
	lookups     *prometheus.CounterVec
	cacheErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, idps []string) *metrics {
	m := &metrics{
		idps: idps,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_requests_total",
			Help: "SCIM requests proxied, by IdP, action, resource type and outcome.",
		}, []string{"idp", "action", "resource_type", "outcome"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scimtrail_upstream_duration_seconds",
			Help:    "Time from a request's arrival to the end of the upstream's answer.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"idp", "action"}),
		incomplete: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_derivation_incomplete_total",
			Help: "Records with something that could not be derived (see the record's notes).",
		}, []string{"resource_type"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_upstream_lookups_total",
			Help: "Resources read back from the upstream because the identity cache did not know them, by result.",
		}, []string{"result"}),
		cacheErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimtrail_identity_cache_errors_total",
			Help: "Identity cache reads or writes that failed.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.upstream, m.incomplete, m.lookups, m.cacheErrors)
	}
	return m
}

func (m *metrics) observe(rec schema.Record, d time.Duration) {
	idp := rec.IdPName
	if !slices.Contains(m.idps, idp) {
		idp = "unknown"
	}
	action := rec.Action
	switch action {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions:
	default:
		action = "OTHER"
	}
	m.requests.WithLabelValues(idp, action, rec.ResourceType, rec.Outcome).Inc()
	m.upstream.WithLabelValues(idp, action).Observe(d.Seconds())
	if len(rec.Notes) > 0 {
		m.incomplete.WithLabelValues(rec.ResourceType).Inc()
	}
}

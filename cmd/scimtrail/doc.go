// Command scimtrail is the SCIM provisioning audit trail: a sidecar reverse
// proxy in front of a SCIM 2.0 service that forwards every request unchanged
// and writes one audit record per exchange.
//
// Subcommands: proxy (the sidecar), forward (the egress proxy for an
// in-house SCIM client, HTTPS_PROXY), ca create (the egress proxy's CA),
// config check, demo (an in-process SCIM service, the proxy and a scripted
// Okta and Entra ID provisioning cycle, no external services), bench (what
// scimtrail costs per request next to direct calls, a plain Go reverse proxy
// and nginx, each proxy pinned to a CPU of its own; with "bench soak", a
// Kafka outage under load, and "bench burst", an initial sync, each checking
// that every record was delivered; Linux), version. Run
// "scimtrail proxy --help" for the flags; every flag is also a key of the
// YAML file given with --config.
package main

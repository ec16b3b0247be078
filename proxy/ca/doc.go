// Package ca is the egress mode's certificate authority: it creates the CA
// that clients of the forward proxy trust (ECDSA P-256, optionally limited
// by name constraints to the hosts it will intercept), and mints short-lived
// leaf certificates for those hosts, cached in memory.
package ca

// Package registrytest makes registries of a realistic shape for
// benchmarks: provisioning traffic of many users over months.
package registrytest

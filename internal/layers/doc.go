// Package layers holds the test that keeps Parley's imports pointing one
// way, as ../../shared/DESIGN.md draws them: sip at the bottom; transport,
// auth, location and sdp on it; transaction and media; dialog; ua,
// registrar and proxy; pbx; config; server; admin; cmd. A package may
// import only packages of a lower layer (and its own subpackages' parents:
// location/redis may import location). It has no code of its own.
package layers

// Package identity keeps the SCIM identity cache on disk, so that what the
// proxy learned about users and groups (id → e-mail, name, externalId,
// members) survives a restart and later PATCH/PUT/DELETE records stay
// complete. Its one job is to implement scim.IdentityCache with bbolt.
package identity

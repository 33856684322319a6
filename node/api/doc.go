// Package api holds the node API's connect handlers — the services a
// state's own agencies call on their node, over mTLS with agency
// certificates of that state:
//
//   - RecordService (records.go): upsert, get, list and delete incidents in
//     the record store; validation failures come back as InvalidArgument
//     with a google.rpc.BadRequest detail, one violation per field;
//   - AgreementService (agreement.go): the sharing agreement in force, and a
//     preview of what the node would answer a query under it;
//   - AuditService (audit.go): the audit log's entries and its hash-chain
//     verification.
//
// Policy (policy.go) is the API's authorization table: every procedure is
// listed with the identities allowed to call it (agencies of the node's own
// country; health checks for anyone), and identity's middleware denies
// whatever is not listed.
package api

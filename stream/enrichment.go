package stream

// Enrichment is what enrichers learned about a record. It is filled in by
// the enrich package and encoded by the ecs package.
//
// (Owned by the enrichment work; fields are added there.)
type Enrichment struct{}

package store

// MigrateTo applies the migrations up to version last, as an older release
// would have: tests of later migrations start from there.
var MigrateTo = migrate

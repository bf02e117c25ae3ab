// Package datasets reads the CTR datasets embtab trains on (Criteo DAC TSV,
// Avazu CSV, MovieLens 1M and 100K, and a synthetic Criteo-like generator),
// converts them to Parquet, and streams them back as columnar batches.
//
// # Data model
//
// Every dataset is described by a [Schema]: one label column, zero or more
// dense integer columns, categorical string columns (the embedding features),
// an optional timestamp, and extra columns kept for reference but never fed
// to a model (a MovieLens title, an Avazu row id). Raw parsers produce
// [Record] values; the Parquet layout of each dataset is documented in
// docs/format/parquet.md and stored in the file's key-value metadata under
// [SchemaMetadataKey], so a reader needs nothing but the file.
//
// # Bad input
//
// A malformed row gives a *[RowError] naming the file, the line and the field.
// Readers wrapped by [Skipping] apply an [OnError] policy: fail on the first
// bad row, or skip bad rows and count them, keeping the first few for the
// report. A truncated gzip stream is an error of the file, not of a row.
//
// # Concurrency
//
// Readers are not safe for concurrent use; [Prefetch] runs one in its own
// goroutine and hands complete batches over a channel.
package datasets

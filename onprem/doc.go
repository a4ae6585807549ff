// Package onprem enforces the model on Linux hosts with nftables. Each host's share of
// a hosts target's desired state becomes one table, inet microseg, written and read
// over netlink with github.com/google/nftables (never by running nft): two filter
// chains whose allows are lookups in named sets, so that the cost of a packet does not
// grow with the number of allows. A change is one atomic netlink transaction; only set
// elements travel when only they changed; a commit-confirmed apply rolls back unless
// confirmed. The table read back from the kernel takes the same canonical form as the
// desired one, so drift is a model.Diff. Dropped and would-drop packets are logged to
// an NFLOG group, which FlowLogReader turns into model.FlowRecords.
//
// Foreign tables are never read for changes nor touched.
package onprem

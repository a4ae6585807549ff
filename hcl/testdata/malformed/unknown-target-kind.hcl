# want: Unknown target kind
target "oci" "x" {}

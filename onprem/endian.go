package onprem

import "encoding/binary"

// nativeEndian is the byte order of this machine: conntrack state bits are compared
// in host order by the kernel.
var nativeEndian = binary.NativeEndian

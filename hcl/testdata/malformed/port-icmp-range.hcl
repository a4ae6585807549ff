# want: Invalid port spec
service "bad" { ports = ["icmp/8-9"] }

# want: Invalid port spec
service "bad" { ports = ["tcp/0"] }

module baomi.dev/sdk/go

go 1.23

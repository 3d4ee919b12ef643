package baomi_test

import (
	"context"
	"fmt"
	"os"

	baomi "baomi.dev/sdk/go"
)

// The README's example, compiled with the tests so that it stays true.
func Example() {
	ctx := context.Background()
	c, err := baomi.New("https://baomi.internal:8443",
		baomi.WithAPIKey(os.Getenv("BAOMI_KEY")), baomi.WithOperator("cs-agent-017"))
	if err != nil {
		return
	}
	sealed, err := c.Encrypt(ctx, baomi.EncryptRequest{Items: []baomi.EncryptRequestItem{
		{SubjectID: "u-10086", Field: "mobile", Value: "13800138000"}}})
	if err != nil {
		return
	}
	shown, err := c.Decrypt(ctx, baomi.DecryptRequest{Purpose: "loan_underwriting",
		View: baomi.Ptr(baomi.ViewKindMasked), Items: []baomi.CiphertextRequestItem{
			{SubjectID: "u-10086", Field: "mobile", Ciphertext: *sealed.Items[0].Ciphertext}}})
	if baomi.IsCode(err, baomi.CodeAuthViewNotGranted) {
		return // this key may not see it so
	}
	if err == nil {
		fmt.Println(*shown.Items[0].Value) // 138****8000
	}
}

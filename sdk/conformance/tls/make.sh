#!/usr/bin/env bash
# Makes the certificates of the SDKs' mutual-TLS test (test fixtures, valid for a century:
# never trust this CA anywhere else). Run again to replace them.
set -euo pipefail
cd "$(dirname "$0")"
days=36500
rm -f ./*.p12
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days $days \
  -subj "/CN=Baomi SDK test CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
leaf() {
  local name=$1 subject=$2 ext=$3
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subject" \
    -keyout "$name.key" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days $days \
    -out "$name.pem" -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" "$ext")
  rm "$name.csr"
}
leaf server "/CN=127.0.0.1" "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
leaf client "/O=Example Pay/CN=payments" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
# PKCS#8 keys (rustls reads them; so do the SDKs), and PKCS#12 for Java.
for k in server client; do
  openssl pkcs8 -topk8 -nocrypt -in "$k.key" -out "$k.key.p8" && mv "$k.key.p8" "$k.key"
done
openssl pkcs12 -export -in client.pem -inkey client.key -name client -passout pass:changeit -out client.p12
keytool -importcert -noprompt -alias ca -file ca.pem -storetype PKCS12 -storepass changeit -keystore ca.p12
rm -f ca.key ca.srl

// Pays a PeerHost function with a reference x402 client and prints what came back as JSON.
//
//   node pay.mjs v2|v1 <function url> <payer private key> <usdc address> <rpc url>
//
// v2 is `@x402/fetch` + `@x402/evm` (its spend controls allow the local mock token);
// v1 is the legacy `x402-fetch`.
import { wrapFetchWithPaymentFromConfig } from "@x402/fetch";
import { ExactEvmScheme } from "@x402/evm";
import { wrapFetchWithPayment } from "x402-fetch";
import { createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { polygonAmoy } from "viem/chains";

const [version, url, key, usdc, rpc] = process.argv.slice(2);
const account = privateKeyToAccount(key);

let pay;
if (version === "v2") {
  pay = wrapFetchWithPaymentFromConfig(fetch, {
    schemes: [{ network: "eip155:80002", client: new ExactEvmScheme(account) }],
    spendControls: { allowedAssets: [{ network: "eip155:80002", asset: usdc }] },
  });
} else {
  const wallet = createWalletClient({ account, chain: polygonAmoy, transport: http(rpc) });
  pay = wrapFetchWithPayment(fetch, wallet);
}

const response = await pay(url, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ paid: version }),
});
const receipt = response.headers.get("payment-response") ?? response.headers.get("x-payment-response");
console.log(JSON.stringify({
  status: response.status,
  body: await response.text(),
  receipt: receipt ? JSON.parse(Buffer.from(receipt, "base64").toString()) : null,
}));

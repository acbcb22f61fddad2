// Drives PeerHost's MCP endpoint with the official TypeScript SDK: lists the tools, calls a
// free one, calls a priced one without payment, pays it over x402's MCP transport
// (`_meta["x402/payment"]`, created by `@x402/core`'s client), asks for a tier the free tool
// does not offer and one that does not exist (`_meta["peerhost/tier"]`), and prints it all as
// JSON.
//
//   node mcp.mjs <mcp url> <payer private key> <usdc address> <free tool> <paid tool>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { x402Client } from "@x402/fetch";
import { ExactEvmScheme } from "@x402/evm";
import { privateKeyToAccount } from "viem/accounts";

const [url, key, usdc, freeTool, paidTool] = process.argv.slice(2);
const account = privateKeyToAccount(key);
const payer = x402Client.fromConfig({
  schemes: [{ network: "eip155:80002", client: new ExactEvmScheme(account) }],
  spendControls: { allowedAssets: [{ network: "eip155:80002", asset: usdc }] },
});

const client = new Client({ name: "peerhost-test", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const { tools } = await client.listTools();
const args = { hello: "mcp" };
const free = await client.callTool({ name: freeTool, arguments: args });
const unpaid = await client.callTool({ name: paidTool, arguments: args });
const verified = await client.callTool({
  name: freeTool,
  arguments: args,
  _meta: { "peerhost/tier": "verified" },
});
let bogusTier = "accepted";
try {
  await client.callTool({ name: freeTool, arguments: args, _meta: { "peerhost/tier": "bogus" } });
} catch (e) {
  bogusTier = String(e.message);
}
const payment = await payer.createPaymentPayload(unpaid.structuredContent);
const paid = await client.callTool({
  name: paidTool,
  arguments: args,
  _meta: { "x402/payment": payment },
});
await client.close();
console.log(JSON.stringify({ tools, free, unpaid, paid, verified, bogusTier }));

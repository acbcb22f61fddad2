// A JavaScript function: a fetch-event handler, as in a service worker. `peerhost-node deploy`
// builds it into a wasi:http component with componentize-js.
//
//   GET  /greet/hello?name=Ada            -> {"greeting":"Hello, Ada!", ...}
//   POST /greet/hello  {"name":"Ada"}     -> the same, the name taken from the JSON body

addEventListener('fetch', (event) => event.respondWith(greet(event.request)));

async function greet(request) {
  const url = new URL(request.url);
  let name = url.searchParams.get('name');
  if (request.method === 'POST') {
    try {
      name = (await request.json()).name ?? name;
    } catch {
      return json(400, { error: 'the body must be JSON like {"name": "Ada"}' });
    }
  }
  name = (name ?? 'world').slice(0, 64);
  return json(200, {
    greeting: `Hello, ${name}!`,
    method: request.method,
    path: url.pathname,
    // Clocks start at the gateway's receive time and random is seeded from the request id,
    // so honest workers give byte-identical answers.
    at: new Date().toISOString(),
    lucky: Math.floor(Math.random() * 100),
  });
}

function json(status, value) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

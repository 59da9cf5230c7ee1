// The ceiling of a Node HTTP server on this machine: `http.createServer` answering every request
// with fixed bytes and headers (read as JSON from stdin) and doing nothing else. bench/package
// runs it next to the appliance, so the report says how close the appliance comes to it.
import { createServer } from 'node:http';
import { text } from 'node:stream/consumers';

const { body, headers } = JSON.parse(await text(process.stdin));
const bytes = Buffer.from(body, 'base64');
createServer((request, response) => {
  response.writeHead(200, headers);
  response.end(bytes);
}).listen(Number(process.argv[2]), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));

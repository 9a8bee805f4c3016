// Socket.IO clients driven by a test: commands in as JSON lines on stdin, everything heard out as
// JSON lines on stdout. The real socket.io-client 4, as TutoriaLLM's editor uses it.
"use strict";
const readline = require("readline");
const { io } = require("socket.io-client");

const [url, path] = process.argv.slice(2);
const clients = {};
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");

function connect({ name, query, auth, headers }) {
  const socket = io(url, {
    path, query, auth, extraHeaders: headers, transports: ["websocket", "polling"],
    reconnection: false, forceNew: true, timeout: 10000,
  });
  clients[name] = socket;
  socket.on("connect", () => say({ client: name, event: "connect", data: socket.id }));
  socket.on("connect_error", (err) => say({ client: name, event: "connect_error", data: err.message }));
  socket.on("disconnect", (reason) => say({ client: name, event: "disconnect", data: reason }));
  socket.onAny((event, ...args) => say({ client: name, event, data: args.length ? args[0] : null }));
}

const commands = {
  connect,
  emit: ({ name, event, data }) => clients[name].emit(event, data),
  close: ({ name }) => clients[name].close(),
  exit: () => process.exit(0),
};

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  commands[command.cmd](command);
});
process.stdin.on("end", () => process.exit(0));

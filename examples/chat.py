"""A chat room per URL: what one member sends, everyone in the room receives.

Run it with an ASGI server, then open http://127.0.0.1:8000/rooms/lobby in
two browser tabs::

    uvicorn examples.chat:app

Rooms live in this process's memory: with several worker processes, members
connected to different workers would not hear each other.
"""

from __future__ import annotations

from dualweb import App, HTMLResponse, WebSocket, WebSocketClosed, WebSocketDisconnect

app = App()


class Room:
    """The sockets connected to one room."""

    def __init__(self) -> None:
        self.members: set[WebSocket] = set()

    async def broadcast(self, message: dict[str, str]) -> None:
        # One member after the other: a member whose connection is slow to
        # drain holds up the rest (a larger app gives each one a queue).
        # Over a copy, since failing members are removed on the way.
        for member in list(self.members):
            try:
                await member.send_json(message)
            except (WebSocketClosed, WebSocketDisconnect):
                # Gone, and its handler has not noticed yet (it cleans up too).
                self.members.discard(member)


rooms: dict[str, Room] = {}


# The page finds its room in the URL by itself, so one page serves every room.
@app.get("/", name="lobby")
@app.get("/rooms/{room}", name="room")
def page(request, room: str = "lobby"):
    return HTMLResponse(PAGE)


@app.websocket("/ws/{room}")
async def chat(ws: WebSocket, room: str):
    await ws.accept()
    # No await between looking the room up and joining it: no one joins a
    # room that is being dropped.
    here = rooms.setdefault(room, Room())
    here.members.add(ws)
    try:
        async for message in ws:
            if isinstance(message, str) and message.strip():
                await here.broadcast({"room": room, "text": message[:1000]})
    finally:
        here.members.discard(ws)
        # A broadcast may have dropped every member already, and the last
        # of them removed the room (another may have taken its name since).
        if not here.members and rooms.get(room) is here:
            del rooms[room]


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dualweb chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  #log { border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; }
  #log p { margin: .2rem 0; }
  form { display: flex; gap: .5rem; margin-top: .5rem; }
  input { flex: 1; }
</style>
</head>
<body>
<h1>Room <span id="room"></span></h1>
<div id="log"></div>
<form id="send"><input id="text" autocomplete="off" autofocus><button>Send</button></form>
<script>
  // The room comes from the URL: /rooms/<name>, or "lobby" at /.
  const path = location.pathname;
  const room = path.startsWith("/rooms/") ? decodeURIComponent(path.slice(7)) : "lobby";
  document.getElementById("room").textContent = room;
  const url = new URL("/ws/" + encodeURIComponent(room), location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  const log = document.getElementById("log");
  function show(text) {
    const line = document.createElement("p");
    line.textContent = text;  // never innerHTML: messages are untrusted
    log.append(line);
    log.scrollTop = log.scrollHeight;
  }
  socket.onmessage = (event) => show(JSON.parse(event.data).text);
  socket.onclose = (event) => show(`(disconnected: ${event.code})`);
  document.getElementById("send").onsubmit = (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    if (input.value.trim()) socket.send(input.value);
    input.value = "";
  };
</script>
</body>
</html>
"""

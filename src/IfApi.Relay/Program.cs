using System.Runtime.InteropServices;
using IfApi.Frames.Wire;
using IfApi.Relay;

// ifapi-relay: joins a real Linux tap to an IfApi tap, so a host's network stack (or a namespace's)
// is one more station on an IfApi bridge.
var usage = $"""
    usage: ifapi-relay URL [--tap NAME] [--plain] [--no-offload] [--token SECRET]
      URL        ws://HOST:PORT/v1/tap (a new IfApi tap, destroyed when the relay stops)
                 or ws://HOST:PORT/v1/interfaces/tap0/tap (an existing one)
      --tap      the Linux tap to create or attach to (default ifapi%d: the kernel numbers it)
      --plain    one frame per message instead of the batched framing ({BatchFraming.Protocol})
      --no-offload  a frame per read and write on the Linux tap, instead of TCP bursts of up to
                 64 KB cut into frames and glued back here (IFF_VNET_HDR, TSO and checksum offload)
      --token    an API key, sent as Authorization: Bearer
    It prints the Linux tap's name once connected; bring it up with `ip link set NAME up`.
    """;

string? url = null, tapName = "ifapi%d", token = null;
var (plain, offload) = (false, true);
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--tap" when i + 1 < args.Length: tapName = args[++i]; break;
        case "--token" when i + 1 < args.Length: token = args[++i]; break;
        case "--plain": plain = true; break;
        case "--no-offload": offload = false; break;
        case "-h" or "--help": Console.WriteLine(usage); return 0;
        case var a when url is null && !a.StartsWith('-'): url = a; break;
        default: Console.Error.WriteLine($"ifapi-relay: unexpected '{args[i]}'\n{usage}"); return 2;
    }
}
if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("ws" or "wss"))
{
    Console.Error.WriteLine($"ifapi-relay: a ws:// or wss:// URL is needed\n{usage}");
    return 2;
}

using var stop = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });

using var tap = LinuxTap.Open(tapName, offload);
WsClient socket;
try
{
    socket = WsClient.Connect(uri, plain ? [] : [BatchFraming.Protocol], token);
}
catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or System.Security.Authentication.AuthenticationException)
{
    Console.Error.WriteLine($"ifapi-relay: {uri}: {e.Message}");
    return 1;
}
using (socket)
{
    Console.Out.WriteLine($"ifapi-relay: {tap.Name} connected to {uri} ({socket.SubProtocol ?? "one frame per message"}{(offload ? ", offloads" : "")})");
    new Relay(tap, socket, Console.Out).Run(stop.Token);
}
return 0;

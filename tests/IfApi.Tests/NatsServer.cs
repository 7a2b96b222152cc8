using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using DotNet.Testcontainers.Builders;

namespace IfApi.Tests;

/// <summary>
/// The NATS server the tests share: an explicit URL (<c>IFAPI_TEST_NATS</c>, which the test command
/// sets after starting Debian's <c>nats-server</c>), else a Testcontainers container when a Docker
/// engine answers, else one this test run starts from the <c>nats-server</c> binary. Never a silent
/// skip: without any, the tests that need it fail and say what is missing.
/// </summary>
public static class NatsServer
{
    public const string Variable = "IFAPI_TEST_NATS";
    private static readonly Lazy<Task<string>> Server = new(StartAsync);

    public static Task<string> GetAsync() => Server.Value;

    private static async Task<string> StartAsync()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } url)
            return url;
        try
        {
            var container = new ContainerBuilder("nats:2.10-alpine")
                .WithPortBinding(4222, assignRandomHostPort: true)
                .WithWaitStrategy(Wait.ForUnixContainer().UntilMessageIsLogged("Server is ready"))
                .Build();
            await container.StartAsync();
            return $"nats://{container.Hostname}:{container.GetMappedPublicPort(4222)}";
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // No Docker engine here: the binary, as the test command would start it.
        }
        var own = await NatsProcess.StartAsync(); // lives as long as the test run
        return own.Url;
    }

    /// <summary>Subjects of their own for one test, so tests on one server never see each other's frames.</summary>
    public static string NewPrefix() => "t" + Guid.NewGuid().ToString("N")[..12];
}

/// <summary>A <c>nats-server</c> of one test's own, on a private loopback port, that the test can kill and start again on that port.</summary>
public sealed class NatsProcess : IAsyncDisposable
{
    private Process? _process;

    private readonly string[] _arguments;

    private NatsProcess(int port, string[] arguments) => (Port, _arguments) = (port, arguments);

    public int Port { get; }

    public string Url => $"nats://127.0.0.1:{Port}";

    /// <summary>Starts one; <paramref name="arguments"/> go to nats-server (<c>--user u --pass p</c>).</summary>
    public static async Task<NatsProcess> StartAsync(params string[] arguments)
    {
        var server = new NatsProcess(FreePort(), arguments);
        await server.RestartAsync();
        return server;
    }

    /// <summary>The binary: on PATH, or where Debian's package puts it.</summary>
    private static string Binary() =>
        new[] { Environment.GetEnvironmentVariable("PATH") ?? "" }.SelectMany(p => p.Split(':')).Append("/usr/sbin")
            .Select(dir => Path.Combine(dir, "nats-server")).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"these tests need nats-server: set {NatsServer.Variable} to a server's URL, or install Debian's nats-server (scripts/nats.sh path does; the test command does it itself)");

    /// <summary>Starts the server (again) on its port and waits until it accepts connections.</summary>
    public async Task RestartAsync()
    {
        var start = new ProcessStartInfo(Binary())
        {
            ArgumentList = { "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in _arguments)
            start.ArgumentList.Add(argument);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    /// <summary>kill -9: connections end without a goodbye.</summary>
    public async Task KillAsync()
    {
        if (_process is not { HasExited: false } p)
            return;
        p.Kill();
        await p.WaitForExitAsync();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }
}

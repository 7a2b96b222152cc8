using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace IfApi.Tests;

/// <summary>
/// The service as its own process (<c>dotnet IfApi.dll</c>), for what an in-process host cannot
/// show: where it listens, several replicas on one store, a kill -9.
/// </summary>
public sealed partial class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServiceProcess(Process process) => _process = process;

    public Uri BaseAddress { get; private set; } = null!;
    public int Pid => _process.Id;
    public IReadOnlyCollection<string> Output => _output;
    public bool Exited => _process.HasExited;

    /// <summary>
    /// Starts the service on the store with the given settings (<c>Section:Key</c> names) and waits until it is ready;
    /// from the folder IfApi.dll is in unless <paramref name="workingDirectory"/> names another.
    /// </summary>
    public static async Task<ServiceProcess> StartAsync(StoreFixture store, IEnumerable<(string Key, string Value)>? settings = null,
        string urls = "http://127.0.0.1:0", TimeSpan? timeout = null, string? workingDirectory = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "IfApi.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll, "--urls", urls },
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Database__Provider"] = store.Provider.ToString();
        start.Environment["ConnectionStrings__IfApi"] = store.ConnectionString;
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        foreach (var (key, value) in settings ?? [])
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        var service = new ServiceProcess(Process.Start(start)!);
        service._process.OutputDataReceived += (_, e) => service.Seen(e.Data);
        service._process.ErrorDataReceived += (_, e) => service.Seen(e.Data);
        service._process.BeginOutputReadLine();
        service._process.BeginErrorReadLine();
        var exited = service._process.WaitForExitAsync();
        var listening = service._listening.Task;
        var deadline = Task.Delay(timeout ?? TimeSpan.FromSeconds(60));
        if (await Task.WhenAny(listening, exited, deadline) != listening)
        {
            await service.DisposeAsync();
            throw new InvalidOperationException($"the service did not start:\n{string.Join('\n', service._output)}");
        }
        service.BaseAddress = await listening;
        return service;
    }

    private void Seen(string? line)
    {
        if (line is null)
            return;
        _output.Enqueue(line);
        if (Listening().Match(line) is { Success: true } m)
            _listening.TrySetResult(new Uri(m.Groups[1].Value.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "127.0.0.1", StringComparison.Ordinal)));
    }

    /// <summary>Waits until a line of output matches (output arrives as the process writes it).</summary>
    public async Task<string> WaitForOutputAsync(Func<string, bool> match, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            if (_output.FirstOrDefault(match) is { } line)
                return line;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no such line in the output:\n{string.Join('\n', _output)}");
            await Task.Delay(20);
        }
    }

    public HttpClient Client(string? secret = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (secret is not null)
            client.DefaultRequestHeaders.Authorization = new("Bearer", secret);
        return client;
    }

    /// <summary>kill -9: no shutdown, no flush, nothing the process could still do.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            Kill(_process.Id, 9);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM, as an orchestrator stops a container, and waits for the exit.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            Kill(_process.Id, 15);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [GeneratedRegex(@"Now listening on: (\S+)")]
    private static partial Regex Listening();
}

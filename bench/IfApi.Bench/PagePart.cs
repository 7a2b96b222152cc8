using System.Diagnostics;

/// <summary>
/// The lab page at <c>/</c>: how soon its picture shows a change, by <c>bench/page.sh</c> (headless
/// Chromium; see <c>bench/page.mjs</c> for how it is measured) against a service on a database of its
/// own on this run's PostgreSQL. Its figure lines are this run's; without Chromium it says it skipped.
/// </summary>
internal static class PagePart
{
    public static async Task RunAsync(string root, string server, Action<string> line)
    {
        var db = await Pg.CreateDatabaseAsync(server, "ifapi_bench_page");
        var psi = new ProcessStartInfo("bash", [Path.Combine(root, "bench", "page.sh"), "--no-build", "--postgres", db])
        {
            RedirectStandardOutput = true,
            WorkingDirectory = root,
        };
        using var script = Process.Start(psi)!;
        while (await script.StandardOutput.ReadLineAsync() is { } output)
        {
            if (output.StartsWith("page ", StringComparison.Ordinal))
                line(output);
            else
                Console.WriteLine(output);
        }
        await script.WaitForExitAsync();
        if (script.ExitCode != 0)
            line($"page: bench/page.sh failed (exit {script.ExitCode})");
    }
}

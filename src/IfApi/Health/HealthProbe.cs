namespace IfApi.Health;

/// <summary>
/// <c>dotnet IfApi.dll --healthcheck</c>: asks the running service's /healthz on this machine and
/// exits 0 or 1, for container health checks in an image that has no curl.
/// </summary>
public static class HealthProbe
{
    public static bool Requested(string[] args) => args.Contains("--healthcheck");

    /// <param name="urls">The service's listen addresses (<c>ASPNETCORE_URLS</c>); the first is asked.</param>
    public static async Task<int> RunAsync(string? urls)
    {
        var url = (string.IsNullOrWhiteSpace(urls) ? "http://localhost:8080" : urls)
            .Split(';', StringSplitOptions.RemoveEmptyEntries)[0]
            .Replace("://+", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://*", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var r = await http.GetAsync(new Uri(new Uri(url), "/healthz"));
            return r.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return 1;
        }
    }
}

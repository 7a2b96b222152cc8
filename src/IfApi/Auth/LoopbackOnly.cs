using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace IfApi.Auth;

/// <summary>
/// With no keys the service is open, so it must not be reachable from elsewhere: every address it
/// was told to listen on (<c>urls</c>, <c>http_ports</c>, <c>Kestrel:Endpoints</c>) is turned into
/// the same port on 127.0.0.1, and once started it stops if it listens anywhere else all the same.
/// </summary>
internal static partial class LoopbackOnly
{
    public static void Restrict(WebApplicationBuilder builder)
    {
        var web = builder.WebHost;
        var urls = web.GetSetting(WebHostDefaults.ServerUrlsKey);
        if (string.IsNullOrWhiteSpace(urls))
        {
            // Kestrel reads the ports only when no URLs are given; turn them into URLs on loopback.
            var ports = new[] { ("http", web.GetSetting(WebHostDefaults.HttpPortsKey)), ("https", web.GetSetting(WebHostDefaults.HttpsPortsKey)) }
                .SelectMany(p => (p.Item2 ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(port => $"{p.Item1}://*:{port}"));
            urls = string.Join(';', ports);
        }
        if (!string.IsNullOrWhiteSpace(urls))
            web.UseSetting(WebHostDefaults.ServerUrlsKey, RestrictUrls(urls));

        var endpoints = builder.Configuration.GetSection("Kestrel:Endpoints").GetChildren()
            .Where(e => e["Url"] is { Length: > 0 })
            .ToDictionary(e => $"Kestrel:Endpoints:{e.Key}:Url", e => (string?)RestrictUrls(e["Url"]!));
        if (endpoints.Count > 0)
            builder.Configuration.AddInMemoryCollection(endpoints);
    }

    /// <summary>Each URL of a <c>;</c>-separated list with its host made 127.0.0.1 unless it already is loopback.</summary>
    public static string RestrictUrls(string urls) =>
        string.Join(';', urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(RestrictUrl));

    private static string RestrictUrl(string url)
    {
        var m = UrlParts().Match(url);
        if (!m.Success)
            return url; // Kestrel refuses it itself
        return IsLoopbackHost(m.Groups["host"].Value) ? url : $"{m.Groups["scheme"].Value}://127.0.0.1{m.Groups["rest"].Value}";
    }

    public static bool IsLoopbackUrl(string url)
    {
        var m = UrlParts().Match(url);
        return m.Success && IsLoopbackHost(m.Groups["host"].Value);
    }

    private static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);

    /// <summary>Where the server listens, once it does (nothing under the in-memory test server).</summary>
    public static IReadOnlyCollection<string> Addresses(WebApplication app) =>
        app.Services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses.ToArray() ?? [];

    [GeneratedRegex(@"^(?<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?<host>\[[^\]]*\]|[^:/\[]*)(?<rest>.*)$")]
    private static partial Regex UrlParts();
}

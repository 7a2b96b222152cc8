using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using IfApi.Lab;

namespace IfApi.Tests;

/// <summary>
/// The page for people at <c>/</c> (SPEC §9): anyone may load it, even when keys are configured (the
/// data it shows needs one); the service serves every file of it itself, and none of them names
/// anything on another site.
/// </summary>
public sealed partial class LabPageTests : IClassFixture<SqliteStore>, IDisposable
{
    private static readonly (string Path, string MediaType)[] Files =
    [
        ("/", "text/html"),
        ("/lab/lab.js", "text/javascript"),
        ("/lab/picture.js", "text/javascript"),
        ("/lab/lab.css", "text/css"),
        ("/lab/icon.svg", "image/svg+xml"),
    ];

    /// <summary>Namespace names: they identify, nothing is fetched from them.</summary>
    private static readonly string[] NamesNotAddresses = ["http://www.w3.org/2000/svg"];

    private readonly IfApiFactory _factory;

    public LabPageTests(SqliteStore store)
    {
        _factory = new IfApiFactory(store.Provider, store.ConnectionString, AuthTests.Keys);
    }

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task The_page_and_its_files_load_without_a_key_when_keys_are_configured_while_the_data_needs_one()
    {
        var anonymous = _factory.CreateClient();
        Assert.Equal(Files.Select(f => f.Path).Order(), LabPage.Paths.Order());
        foreach (var (path, mediaType) in Files)
        {
            var r = await anonymous.GetAsync(path);
            Assert.True(r.StatusCode == HttpStatusCode.OK, $"{path}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
            Assert.Equal(mediaType, r.Content.Headers.ContentType?.MediaType);
            Assert.Equal("nosniff", r.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Equal(LabPage.ContentSecurityPolicy, r.Headers.GetValues("Content-Security-Policy").Single());
            Assert.True((await r.Content.ReadAsByteArrayAsync()).Length > 0, $"{path} is empty");
        }
        // A key in the page's address, even a wrong one, is the page's to use, not a reason to refuse it.
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/?access_token=not-a-key-of-ours-at-all")).StatusCode);

        await (await anonymous.GetAsync("/v1/interfaces")).Problem(HttpStatusCode.Unauthorized, "ENEEDAUTH");
        await (await anonymous.GetAsync("/v1/events")).Problem(HttpStatusCode.Unauthorized, "ENEEDAUTH");
    }

    [Fact]
    public async Task Every_file_the_page_names_is_served_by_the_service_and_none_names_another_site()
    {
        var anonymous = _factory.CreateClient();
        foreach (var (path, _) in Files)
        {
            var text = await anonymous.GetStringAsync(path);
            var elsewhere = AbsoluteUrl().Matches(text).Select(m => m.Value).Where(u => !NamesNotAddresses.Contains(u)).ToList();
            Assert.True(elsewhere.Count == 0, $"{path} names {string.Join(", ", elsewhere)}");
            foreach (var reference in LocalReference().Matches(text).Select(m => m.Groups["ref"].Value))
            {
                // Resolved as the browser resolves it: "//host/x" is another site, whatever its path.
                var resolved = new Uri(new Uri("http://page" + path), reference);
                Assert.True(resolved.Host == "page" && Files.Any(f => f.Path == resolved.AbsolutePath), $"{path} names {reference}, which the service does not serve");
            }
        }
    }

    [Fact]
    public async Task A_file_that_did_not_change_is_not_sent_again()
    {
        var anonymous = _factory.CreateClient();
        var first = await anonymous.GetAsync("/lab/lab.js");
        Assert.Equal("no-cache", first.Headers.CacheControl?.ToString());
        var etag = first.Headers.ETag ?? throw new InvalidOperationException("no ETag");
        var again = new HttpRequestMessage(HttpMethod.Get, "/lab/lab.js");
        again.Headers.IfNoneMatch.Add(etag);
        Assert.Equal(HttpStatusCode.NotModified, (await anonymous.SendAsync(again)).StatusCode);
        var other = new HttpRequestMessage(HttpMethod.Get, "/lab/lab.js");
        other.Headers.IfNoneMatch.Add(new EntityTagHeaderValue("\"an-older-one\""));
        Assert.Equal(HttpStatusCode.OK, (await anonymous.SendAsync(other)).StatusCode);
    }

    [Fact]
    public async Task The_page_is_neither_under_v1_nor_in_the_document()
    {
        var doc = JsonNode.Parse(await _factory.CreateClient().GetStringAsync("/swagger/v1/swagger.json"))!;
        var paths = doc["paths"]!.AsObject().Select(p => p.Key).ToList();
        Assert.DoesNotContain(paths, p => p == "/" || p.StartsWith("/lab", StringComparison.Ordinal));
        Assert.All(LabPage.Paths, p => Assert.False(p.StartsWith("/v1", StringComparison.Ordinal), p));
    }

    /// <summary>An absolute http(s) URL anywhere in a file: a script, a style, an import, a comment.</summary>
    [GeneratedRegex(@"https?://[^\s""'<>)`]+", RegexOptions.IgnoreCase)]
    private static partial Regex AbsoluteUrl();

    /// <summary>What the page loads by reference: src and href attributes, module imports, CSS url().</summary>
    [GeneratedRegex(@"(?:\b(?:src|href)=""|\bfrom\s+""|\bimport\s+""|url\(\s*[""']?)(?<ref>[^""')\s]+)")]
    private static partial Regex LocalReference();
}

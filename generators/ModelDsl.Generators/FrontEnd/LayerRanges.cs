using System.Globalization;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>
/// Ranges of encoder blocks as a declaration writes them, both ends included: <c>"0..5"</c>, <c>"6.."</c> (to the
/// last block), <c>"..3"</c> (from the first), <c>"4"</c> (one block).
/// </summary>
internal static class LayerRanges
{
    /// <param name="problem">Why the text is not a range of the <paramref name="depth"/> blocks, as the end of a sentence.</param>
    public static bool TryParse(string text, int depth, out int first, out int last, out string problem)
    {
        (first, last, problem) = (0, depth - 1, "");
        var dots = text.IndexOf("..", System.StringComparison.Ordinal);
        string? from = dots < 0 ? text : text.Substring(0, dots), to = dots < 0 ? text : text.Substring(dots + 2);
        if (!TryBlock(from, fallback: 0, out first) || !TryBlock(to, fallback: depth - 1, out last))
        {
            problem = "is not a range of blocks";
            return false;
        }
        if (first > last)
        {
            problem = $"is empty (it starts at block {first.ToString(CultureInfo.InvariantCulture)}, after block {last.ToString(CultureInfo.InvariantCulture)})";
            return false;
        }
        if (last >= depth)
        {
            problem = $"reaches block {last.ToString(CultureInfo.InvariantCulture)}, past the last block";
            return false;
        }
        return true;
    }

    private static bool TryBlock(string text, int fallback, out int block)
    {
        text = text.Trim();
        if (text.Length == 0)
        {
            block = fallback;
            return true;
        }
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out block);
    }
}
